import Glibc

/// The entry point. Synchronous on purpose: with an `async` main, the main thread
/// ends in `dispatch_main`, which calls `pthread_exit`, and that thread's forced
/// unwind loads libgcc_s and reads some 0.7 MiB of the binary's unwind tables at
/// every start (mapped in 64 KiB runs, they stayed in the idle RSS). Here the command
/// runs on the cooperative pool, as before; the main thread only waits, and the
/// process ends with `exit`, with the same codes (`Sinkhole.main` exits non-zero on
/// an error itself). Nothing in sinkhole runs on the main actor or the main queue.
@main
enum Entry {
    static func main() {
        Task.detached {
            await Sinkhole.main()
            exit(0)
        }
        while true { pause() }
    }
}

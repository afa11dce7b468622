import CCurl
import NIOPosix
import Synchronization

/// HTTP over libcurl. Each request runs on NIO's blocking-I/O thread pool,
/// never on an event loop or the cooperative pool, with a fresh easy handle:
/// sinkhole makes one small request per refresh, so there is nothing to reuse.
///
/// libcurl does what an AWS client needs here: TLS with verification against
/// the system's CA bundle, `HTTPS_PROXY`/`NO_PROXY` from the environment, and
/// SigV4 signing (`CURLOPT_AWS_SIGV4`, libcurl 7.75 and later).
public struct CurlTransport: HTTPTransport {
    /// Largest answer read; AWS's answers to sinkhole are a few hundred bytes.
    public static let responseLimit = 1 << 20
    /// `host:port:connect-host:connect-port` pairs (libcurl's `CURLOPT_CONNECT_TO`):
    /// tests use it to send a request for one host to a local server.
    public var connectTo: [String]

    public init(connectTo: [String] = []) {
        self.connectTo = connectTo
    }

    /// Cancelling the calling task (sinkhole shutting down) aborts the transfer
    /// within libcurl's progress interval, rather than waiting for the timeout.
    public func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        let connectTo = connectTo
        let cancellation = Cancellation()
        let result: Result<HTTPResponse, HTTPTransportError>
        do {
            result = try await withTaskCancellationHandler {
                try await NIOThreadPool.singleton.runIfActive {
                    Self.perform(request, connectTo: connectTo, cancellation: cancellation)
                }
            } onCancel: {
                cancellation.flag.store(true, ordering: .relaxed)
            }
        } catch {
            throw HTTPTransportError("no thread to run the request on: \(error)")
        }
        return try result.get()
    }

    /// Loads libcurl (on first use: only the `ssm:` source needs it) and sets
    /// up its global state, once. Nil when it is ready, or why it is not.
    public static let unavailable: String? = {
        if let reason = sinkhole_curl_load() { return "libcurl could not be loaded: \(String(cString: reason))" }
        let code = sinkhole_curl_global_init(3) // CURL_GLOBAL_ALL: SSL | WIN32
        return code == CURLE_OK ? nil : "libcurl could not be initialised: \(String(cString: sinkhole_curl_easy_strerror(code)))"
    }()

    /// Blocking: runs the whole transfer on the calling thread.
    static func perform(_ request: HTTPRequest, connectTo: [String], cancellation: Cancellation = Cancellation())
        -> Result<HTTPResponse, HTTPTransportError> {
        if let unavailable { return .failure(HTTPTransportError(unavailable)) }
        guard let handle = sinkhole_curl_easy_init() else {
            return .failure(HTTPTransportError("libcurl could not be initialised"))
        }
        defer { sinkhole_curl_easy_cleanup(handle) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        var connectList: UnsafeMutablePointer<curl_slist>?
        defer {
            sinkhole_curl_slist_free_all(headerList)
            sinkhole_curl_slist_free_all(connectList)
        }
        var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let sink = ResponseSink(limit: responseLimit, cancellation: cancellation)
        let sinkPointer = Unmanaged.passRetained(sink)
        defer { sinkPointer.release() }

        let setupError: CURLcode = errorText.withUnsafeMutableBufferPointer { errorBuffer -> CURLcode in
            var code = CURLE_OK
            func set(_ result: CURLcode) { if code == CURLE_OK { code = result } }

            set(sinkhole_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress))
            set(sinkhole_curl_set_string(handle, CURLOPT_URL, request.url))
            set(sinkhole_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
            set(sinkhole_curl_set_long(handle, CURLOPT_NOSIGNAL, 1))
            set(sinkhole_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout)))
            set(sinkhole_curl_set_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout)))
            set(sinkhole_curl_set_string(handle, CURLOPT_USERAGENT, "sinkhole"))
            set(sinkhole_curl_set_write_function(handle, curlWrite))
            set(sinkhole_curl_set_pointer(handle, CURLOPT_WRITEDATA, sinkPointer.toOpaque()))
            set(sinkhole_curl_set_progress_function(handle, curlProgress))
            set(sinkhole_curl_set_pointer(handle, CURLOPT_XFERINFODATA, sinkPointer.toOpaque()))
            set(sinkhole_curl_set_long(handle, CURLOPT_NOPROGRESS, 0))

            switch request.method {
            case "GET":
                set(sinkhole_curl_set_long(handle, CURLOPT_HTTPGET, 1))
            default:
                // The body goes through COPYPOSTFIELDS, whole: libcurl's SigV4
                // hashes that buffer (a streamed body would be hashed as empty).
                set(sinkhole_curl_set_long(handle, CURLOPT_POSTFIELDSIZE, request.body.count))
                if request.body.isEmpty {
                    set(sinkhole_curl_set_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
                } else {
                    set(request.body.withUnsafeBufferPointer { bytes in
                        sinkhole_curl_set_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    })
                }
                if request.method != "POST" {
                    set(sinkhole_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
                }
            }

            var headers = request.headers
            if let signing = request.signing {
                set(sinkhole_curl_set_string(handle, CURLOPT_AWS_SIGV4, "aws:amz:\(signing.region):\(signing.service)"))
                set(sinkhole_curl_set_string(handle, CURLOPT_USERNAME, signing.credentials.accessKeyID))
                set(sinkhole_curl_set_string(handle, CURLOPT_PASSWORD, signing.credentials.secretAccessKey))
                // libcurl signs every header given here, so the token is signed too.
                if let token = signing.credentials.sessionToken {
                    headers.append(("X-Amz-Security-Token", token))
                }
            }
            for (name, value) in headers {
                headerList = sinkhole_curl_slist_append(headerList, "\(name): \(value)")
            }
            if headerList != nil { set(sinkhole_curl_set_list(handle, CURLOPT_HTTPHEADER, headerList)) }
            for entry in connectTo {
                connectList = sinkhole_curl_slist_append(connectList, entry)
            }
            if connectList != nil { set(sinkhole_curl_set_list(handle, CURLOPT_CONNECT_TO, connectList)) }
            return code
        }
        if setupError != CURLE_OK {
            return .failure(HTTPTransportError("libcurl refused an option: \(describe(setupError, errorText))"))
        }

        let code = sinkhole_curl_easy_perform(handle)
        if code != CURLE_OK {
            if code == CURLE_ABORTED_BY_CALLBACK && cancellation.flag.load(ordering: .relaxed) {
                return .failure(HTTPTransportError("cancelled: sinkhole is stopping"))
            }
            if sink.overflowed {
                return .failure(HTTPTransportError("answer larger than \(responseLimit) bytes"))
            }
            let unreachable = [CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT]
                .contains(code) && sink.bytes.isEmpty
            return .failure(HTTPTransportError(describe(code, errorText), unreachable: unreachable))
        }
        var status = 0
        _ = sinkhole_curl_response_code(handle, &status)
        return .success(HTTPResponse(status: status, body: sink.bytes))
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    private static func describe(_ code: CURLcode, _ errorText: [CChar]) -> String {
        let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if !detail.isEmpty { return detail }
        return String(cString: sinkhole_curl_easy_strerror(code))
    }
}

/// Set when the task that asked for a transfer is cancelled.
final class Cancellation: Sendable {
    let flag = Atomic<Bool>(false)
}

/// Where libcurl's callbacks put the answer; one per transfer, used only on
/// the thread that runs it (``Cancellation`` is the one shared part).
private final class ResponseSink {
    let limit: Int
    let cancellation: Cancellation
    var bytes: [UInt8] = []
    var overflowed = false

    init(limit: Int, cancellation: Cancellation) {
        self.limit = limit
        self.cancellation = cancellation
    }
}

/// libcurl's progress callback, called at least once a second during a
/// transfer: a non-zero return aborts it.
private func curlProgress(_ context: UnsafeMutableRawPointer?, _: curl_off_t, _: curl_off_t, _: curl_off_t, _: curl_off_t) -> Int32 {
    guard let context else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    return sink.cancellation.flag.load(ordering: .relaxed) ? 1 : 0
}

/// libcurl's write callback: appends to the ``ResponseSink``, and stops the
/// transfer (by returning less than it was given) past the limit.
private func curlWrite(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let data, let context else { return 0 }
    let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard sink.bytes.count + length <= sink.limit else {
        sink.overflowed = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
    }
    return length
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import SMTPProtocol

/// What the frame decoder hands the session handler.
public enum SMTPInboundPart: Hashable, Sendable {
    /// A command line, without its line ending.
    case line(ByteBuffer)
    /// A command line longer than the limit; its bytes were discarded up to the next LF.
    case lineTooLong
    /// A run of message content, dot-unstuffed.
    case content(ByteBuffer)
    /// The `CRLF.CRLF` that ends the content; what follows is commands again.
    case endOfContent
    /// The last octet of a BDAT chunk was passed on; what follows is commands again.
    case endOfChunk
}

/// Splits the byte stream into command lines and, after the handler has sent
/// `354`, into message content up to `CRLF.CRLF`.
///
/// Command lines end at LF (a CR before it is dropped). A line longer than the
/// limit is reported once as ``SMTPInboundPart/lineTooLong`` and thrown away
/// as it arrives, so a megabyte without a newline costs no memory.
///
/// Content is passed on in slices as it arrives, never gathered whole. Only
/// CR LF `.` CR LF ends it: a bare LF, `\n.\n`, `\r\n.\n` or `\n.\r\n` does
/// not (no SMTP smuggling). A leading dot on a line is removed (RFC 5321 §4.5.2).
///
/// After a BDAT line, ``beginChunk(size:)`` makes it pass on exactly that many
/// octets as content, then ``SMTPInboundPart/endOfChunk``.
///
/// The session handler owns it and pulls parts with ``next(from:)``, switching
/// it to content with ``beginContent()`` after writing `354`: the decoder
/// enters content only when the reply says so. It is also a
/// `ByteToMessageDecoder`, so it can be verified (and used) on its own.
public struct SMTPFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SMTPInboundPart

    private enum ContentState {
        /// At the start of a line (after CR LF, or right after the 354).
        case lineStart
        case inLine
        /// Saw CR inside a line.
        case carriageReturn
        /// Saw `.` at the start of a line.
        case dot
        /// Saw `.` CR at the start of a line.
        case dotCarriageReturn
    }

    private enum State {
        case commands
        /// Throwing away the rest of a line that was too long.
        case discardingLine
        case content(ContentState)
        /// A BDAT chunk: this many octets are still to come, passed on as they are.
        case chunk(remaining: Int)
    }

    private var state: State = .commands
    public let lineLengthLimit: Int

    private static let carriageReturn = ByteBuffer(string: "\r")

    public init(lineLengthLimit: Int = SMTPDefaults.commandLineLengthLimit) {
        self.lineLengthLimit = lineLengthLimit
    }

    /// Reads what follows as message content. Call after writing `354`.
    public mutating func beginContent() {
        state = .content(.lineStart)
    }

    /// Reads exactly `size` octets as a BDAT chunk (RFC 3030): no line ends,
    /// no dots looked for. Call after a BDAT line; ``SMTPInboundPart/endOfChunk`` follows them.
    public mutating func beginChunk(size: Int) {
        state = .chunk(remaining: size)
    }

    public var isReadingContent: Bool {
        switch state {
        case .content, .chunk: return true
        case .commands, .discardingLine: return false
        }
    }

    /// The next part in `buffer`, consuming its bytes; nil when more input is
    /// needed (what is left unread must be kept and the next read appended).
    public mutating func next(from buffer: inout ByteBuffer) -> SMTPInboundPart? {
        while true {
            switch state {
            case .commands:
                return nextLine(from: &buffer)
            case .discardingLine:
                guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return nil
                }
                buffer.moveReaderIndex(to: newline + 1)
                state = .commands
            case .content(let contentState):
                return nextContent(from: &buffer, in: contentState)
            case .chunk(let remaining):
                guard remaining > 0 else {
                    state = .commands
                    return .endOfChunk
                }
                let length = min(remaining, buffer.readableBytes)
                guard length > 0, let slice = buffer.readSlice(length: length) else { return nil }
                state = .chunk(remaining: remaining - length)
                return .content(slice)
            }
        }
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let part = next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(part))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial line or unterminated content at EOF is dropped: the client is gone.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    private mutating func nextLine(from buffer: inout ByteBuffer) -> SMTPInboundPart? {
        let view = buffer.readableBytesView
        // Look no further than the limit allows: the line is too long either way.
        let searchEnd = view.startIndex + min(view.count, lineLengthLimit + 2)
        guard let newline = view[view.startIndex..<searchEnd].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > lineLengthLimit + 1 {
                // Drop only what was searched: the newline (and the next command) may follow.
                buffer.moveReaderIndex(to: searchEnd)
                state = .discardingLine
                return .lineTooLong
            }
            return nil
        }
        var length = newline - view.startIndex
        if length > 0 && view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        guard length <= lineLengthLimit else {
            buffer.moveReaderIndex(to: newline + 1)
            return .lineTooLong
        }
        // readSlice cannot fail: `length` is within the readable bytes.
        let line = buffer.readSlice(length: length) ?? ByteBuffer()
        buffer.moveReaderIndex(to: newline + 1)
        return .line(line)
    }

    /// Where a scan of content stopped, offsets from the reader index.
    private enum ContentStop {
        /// Reached the end of the input.
        case exhausted
        /// Content up to `end`, then a dot (stuffing or terminator) held back; resume after it.
        case run(end: Int, resume: Int)
        /// `CRLF.CRLF`: the content is over; commands resume at `resume`.
        case terminator(resume: Int)
        /// `.` CR at a line start, then not LF: the CR was content after all.
        case heldCarriageReturn(resume: Int)
    }

    private mutating func nextContent(from buffer: inout ByteBuffer, in start: ContentState) -> SMTPInboundPart? {
        var contentState = start
        let base = buffer.readerIndex
        let count = buffer.readableBytes
        var runStart = 0
        var offset = 0
        var stop = ContentStop.exhausted

        buffer.withUnsafeReadableBytes { bytes in
            scan: while offset < count {
                let byte = bytes[offset]
                switch contentState {
                case .inLine:
                    // Fast path: skip to the next CR.
                    if let found = memchrIndex(bytes, from: offset, byte: UInt8(ascii: "\r")) {
                        // The usual line end, CR LF and a next line that starts with neither
                        // a dot nor a CR, goes straight on: what the three states below
                        // would do, without a turn of the loop for each.
                        if found + 2 < count, bytes[found + 1] == UInt8(ascii: "\n"),
                           bytes[found + 2] != UInt8(ascii: "."), bytes[found + 2] != UInt8(ascii: "\r") {
                            offset = found + 2
                            continue scan
                        }
                        offset = found + 1
                        contentState = .carriageReturn
                    } else {
                        offset = count
                    }
                    continue scan
                case .carriageReturn:
                    if byte == UInt8(ascii: "\n") {
                        contentState = .lineStart
                    } else if byte != UInt8(ascii: "\r") {
                        contentState = .inLine
                    }
                case .lineStart:
                    if byte == UInt8(ascii: ".") {
                        // Hold the dot back: it is either stuffing or the terminator.
                        contentState = .dot
                        if offset > runStart {
                            stop = .run(end: offset, resume: offset + 1)
                            break scan
                        }
                        runStart = offset + 1
                    } else if byte == UInt8(ascii: "\r") {
                        contentState = .carriageReturn
                    } else {
                        contentState = .inLine
                    }
                case .dot:
                    if byte == UInt8(ascii: "\r") {
                        // Held back too (nothing is pending: the dot was just dropped).
                        runStart = offset + 1
                        contentState = .dotCarriageReturn
                    } else {
                        // A stuffed dot: it stays dropped; this byte is content.
                        contentState = .inLine
                        continue scan
                    }
                case .dotCarriageReturn:
                    if byte == UInt8(ascii: "\n") {
                        stop = .terminator(resume: offset + 1)
                    } else {
                        // This byte is read again as ordinary content.
                        contentState = .inLine
                        stop = .heldCarriageReturn(resume: offset)
                    }
                    break scan
                }
                offset += 1
            }
        }

        switch stop {
        case .exhausted:
            // The slice first: a buffer gives none of the bytes behind its reader index.
            let run = count > runStart ? buffer.getSlice(at: base + runStart, length: count - runStart) : nil
            buffer.moveReaderIndex(to: base + count)
            state = .content(contentState)
            return run.map { .content($0) }
        case .run(let end, let resume):
            let run = buffer.getSlice(at: base + runStart, length: end - runStart) ?? ByteBuffer()
            buffer.moveReaderIndex(to: base + resume)
            state = .content(contentState)
            return .content(run)
        case .terminator(let resume):
            buffer.moveReaderIndex(to: base + resume)
            state = .commands
            return .endOfContent
        case .heldCarriageReturn(let resume):
            buffer.moveReaderIndex(to: base + resume)
            state = .content(contentState)
            return .content(Self.carriageReturn)
        }
    }
}

@inline(__always)
private func memchrIndex(_ bytes: UnsafeRawBufferPointer, from offset: Int, byte: UInt8) -> Int? {
    guard let base = bytes.baseAddress, offset < bytes.count else { return nil }
    guard let found = memchr(base + offset, Int32(byte), bytes.count - offset) else { return nil }
    return base.distance(to: UnsafeRawPointer(found))
}

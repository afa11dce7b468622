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
/// It is a class so the handler that owns the session can switch it to
/// content with ``beginContent()`` after writing `354`: the decoder enters
/// content only when the reply says so.
public final class SMTPFrameDecoder: ByteToMessageDecoder {
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
    }

    private var state: State = .commands
    public let lineLengthLimit: Int

    private static let carriageReturn = ByteBuffer(string: "\r")

    public init(lineLengthLimit: Int = SMTPDefaults.commandLineLengthLimit) {
        self.lineLengthLimit = lineLengthLimit
    }

    /// Reads what follows as message content. Call after writing `354`.
    public func beginContent() {
        state = .content(.lineStart)
    }

    public var isReadingContent: Bool {
        if case .content = state { return true }
        return false
    }

    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .commands:
            return decodeLine(context: context, buffer: &buffer)
        case .discardingLine:
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .needMoreData
            }
            buffer.moveReaderIndex(to: newline + 1)
            state = .commands
            return .continue
        case .content(let contentState):
            return decodeContent(context: context, buffer: &buffer, from: contentState)
        }
    }

    public func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial line or unterminated content at EOF is dropped: the client is gone.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    private func decodeLine(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        let view = buffer.readableBytesView
        // Look no further than the limit allows: the line is too long either way.
        let searchEnd = view.startIndex + min(view.count, lineLengthLimit + 2)
        guard let newline = view[view.startIndex..<searchEnd].firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > lineLengthLimit + 1 {
                // Drop only what was searched: the newline (and the next command) may follow.
                buffer.moveReaderIndex(to: searchEnd)
                state = .discardingLine
                context.fireChannelRead(wrapInboundOut(.lineTooLong))
                return .continue
            }
            return .needMoreData
        }
        var length = newline - view.startIndex
        if length > 0 && view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        guard length <= lineLengthLimit else {
            buffer.moveReaderIndex(to: newline + 1)
            context.fireChannelRead(wrapInboundOut(.lineTooLong))
            return .continue
        }
        // readSlice cannot fail: `length` is within the readable bytes.
        let line = buffer.readSlice(length: length) ?? ByteBuffer()
        buffer.moveReaderIndex(to: newline + 1)
        context.fireChannelRead(wrapInboundOut(.line(line)))
        return .continue
    }

    private func decodeContent(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, from start: ContentState
    ) -> DecodingState {
        var contentState = start
        let base = buffer.readerIndex
        let count = buffer.readableBytes
        guard count > 0 else { return .needMoreData }
        var runStart = 0
        var ended = false
        var offset = 0

        func emitRun(upTo end: Int) {
            guard end > runStart, let slice = buffer.getSlice(at: base + runStart, length: end - runStart) else { return }
            context.fireChannelRead(wrapInboundOut(.content(slice)))
        }

        buffer.withUnsafeReadableBytes { bytes in
            scan: while offset < count {
                let byte = bytes[offset]
                switch contentState {
                case .inLine:
                    // Fast path: skip to the next CR.
                    if let found = memchrIndex(bytes, from: offset, byte: UInt8(ascii: "\r")) {
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
                        emitRun(upTo: offset)
                        runStart = offset + 1
                        contentState = .dot
                    } else if byte == UInt8(ascii: "\r") {
                        contentState = .carriageReturn
                    } else {
                        contentState = .inLine
                    }
                case .dot:
                    if byte == UInt8(ascii: "\r") {
                        emitRun(upTo: offset)
                        runStart = offset + 1
                        contentState = .dotCarriageReturn
                    } else {
                        // A stuffed dot: it stays dropped; this byte is content.
                        contentState = .inLine
                        continue scan
                    }
                case .dotCarriageReturn:
                    if byte == UInt8(ascii: "\n") {
                        offset += 1
                        runStart = offset
                        ended = true
                        break scan
                    }
                    // ".\r" then something else: the held-back CR is content after all.
                    context.fireChannelRead(wrapInboundOut(.content(Self.carriageReturn)))
                    contentState = byte == UInt8(ascii: "\r") ? .carriageReturn : .inLine
                    runStart = offset
                    if byte == UInt8(ascii: "\r") { break }
                    continue scan
                }
                offset += 1
            }
        }
        if !ended { emitRun(upTo: offset) }
        buffer.moveReaderIndex(to: base + offset)
        if ended {
            state = .commands
            context.fireChannelRead(wrapInboundOut(.endOfContent))
            return .continue
        }
        state = .content(contentState)
        return .needMoreData
    }
}

@inline(__always)
private func memchrIndex(_ bytes: UnsafeRawBufferPointer, from offset: Int, byte: UInt8) -> Int? {
    guard let base = bytes.baseAddress, offset < bytes.count else { return nil }
    guard let found = memchr(base + offset, Int32(byte), bytes.count - offset) else { return nil }
    return base.distance(to: UnsafeRawPointer(found))
}

import SMTPProtocol
import Testing

@Suite("Reply delivery")
struct DeliveryTests {
    @Test("Immediate is the default, and any field set makes it not")
    func immediate() {
        #expect(SMTPDelivery().isImmediate && SMTPDelivery.immediate.isImmediate)
        #expect(SMTPDelivery(delay: nil, bytesPerSecond: nil, pieceSize: nil) == .immediate)
        #expect(!SMTPDelivery(delay: .zero).isImmediate)
        #expect(!SMTPDelivery(bytesPerSecond: 5).isImmediate && !SMTPDelivery(pieceSize: 1).isImmediate)
        var delivery = SMTPDelivery(delay: .seconds(2))
        delivery.delay = nil
        #expect(delivery.isImmediate && delivery == .immediate)
    }

    @Test("Fields read back as set: delays to the nanosecond, rates and pieces as given")
    func roundTrip() {
        var delivery = SMTPDelivery(delay: .milliseconds(1500), bytesPerSecond: 10, pieceSize: 3)
        #expect(delivery.delay == .milliseconds(1500) && delivery.bytesPerSecond == 10 && delivery.pieceSize == 3)
        delivery.delay = .nanoseconds(7)
        delivery.bytesPerSecond = nil
        #expect(delivery.delay == .nanoseconds(7) && delivery.bytesPerSecond == nil && delivery.pieceSize == 3)
        #expect(SMTPDelivery(delay: .seconds(-1)).delay == .seconds(-1))
        #expect(SMTPDelivery(bytesPerSecond: .max).bytesPerSecond == .max)
        #expect(SMTPDelivery(delay: .seconds(2)) == SMTPDelivery(delay: .milliseconds(2000)))
        #expect(SMTPDelivery(delay: .seconds(2)) != SMTPDelivery(delay: .seconds(3)))
    }

    @Test("A delay past what nanoseconds in 64 bits hold is clamped, not wrapped or lost")
    func clamped() {
        let long = SMTPDelivery(delay: .seconds(Int64.max)).delay
        #expect(long == .nanoseconds(Int64.max))
        let negative = SMTPDelivery(delay: .seconds(Int64.min)).delay
        #expect(negative == .nanoseconds(Int64.min + 1))
    }

    @Test("Three words, nothing to retain: every state machine and decision holds one")
    func size() {
        #expect(MemoryLayout<SMTPDelivery>.size == 24)
        #expect(_isPOD(SMTPDelivery.self))
    }
}

import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import SinkholeAWS

/// A provider whose answer the test sets, counting its lookups.
final class ScriptedProvider: CredentialProvider, Sendable {
    let name: String
    private let state: NIOLockedValueBox<(answer: Result<CredentialLookup, CredentialError>, calls: Int)>

    init(_ name: String, _ answer: Result<CredentialLookup, CredentialError>) {
        self.name = name
        self.state = NIOLockedValueBox((answer, 0))
    }

    var calls: Int { state.withLockedValue { $0.calls } }
    func answer(_ answer: Result<CredentialLookup, CredentialError>) { state.withLockedValue { $0.answer = answer } }

    func lookup() async throws(CredentialError) -> CredentialLookup {
        try state.withLockedValue { state in
            state.calls += 1
            return state.answer
        }.get()
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    private let instant = NIOLockedValueBox(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { instant.withLockedValue { $0 } }
    func advance(_ seconds: TimeInterval) { instant.withLockedValue { $0 += seconds } }
}

@Suite struct CredentialChainTests {
    let keys = AWSCredentials(accessKeyID: "AKIA1", secretAccessKey: "s1")

    @Test func theFirstConfiguredPlaceWinsAndLaterOnesAreNotAsked() async throws {
        let first = ScriptedProvider("first", .success(.notConfigured("unset")))
        let second = ScriptedProvider("second", .success(.found(keys)))
        let third = ScriptedProvider("third", .success(.found(AWSCredentials(accessKeyID: "other", secretAccessKey: "x"))))
        let chain = CredentialChain(providers: [first, second, third])

        #expect(try await chain.credentials() == keys)
        #expect(chain.source == "second")
        #expect((first.calls, second.calls, third.calls) == (1, 1, 0))
        // Long-lived keys are not fetched again.
        #expect(try await chain.credentials() == keys)
        #expect(second.calls == 1)
    }

    @Test func aConfiguredPlaceThatFailsStopsTheChain() async {
        let first = ScriptedProvider("the ECS container credentials endpoint", .failure(CredentialError("answered HTTP 401")))
        let second = ScriptedProvider("second", .success(.found(keys)))
        let chain = CredentialChain(providers: [first, second])

        await #expect(throws: CredentialError("the ECS container credentials endpoint: answered HTTP 401")) {
            try await chain.credentials()
        }
        #expect(second.calls == 0)
    }

    @Test func noCredentialsNamesEveryPlaceInOrder() async {
        let environment: [String: String] = [
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        ]
        let chain = CredentialChain.standard(environment: environment, transport: FakeTransport { _ in
            .failure(HTTPTransportError("unexpected request"))
        }, timeouts: HTTPTimeouts())
        await #expect(throws: CredentialError(
            "no AWS credentials found. Looked in "
                + "1. the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set; "
                + "2. the ECS container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set; "
                + "3. EC2 instance metadata: AWS_EC2_METADATA_DISABLED is true; "
                + "4. the shared credentials file: /nonexistent/credentials does not exist")) {
            try await chain.credentials()
        }
    }

    @Test func theStandardOrder() {
        let chain = CredentialChain.standard(environment: [:], transport: FakeTransport { _ in json(500, "") },
                                             timeouts: HTTPTimeouts())
        #expect(chain.providers.map(\.name) == [
            "the environment", "the ECS container credentials endpoint", "EC2 instance metadata",
            "the shared credentials file",
        ])
    }

    @Test func temporaryCredentialsAreFetchedAgainBeforeTheyExpire() async throws {
        let clock = TestClock()
        let firstKeys = AWSCredentials(accessKeyID: "ASIA1", secretAccessKey: "s1", sessionToken: "t1",
                                       expiration: clock.now.addingTimeInterval(3600))
        let provider = ScriptedProvider("container", .success(.found(firstKeys)))
        let chain = CredentialChain(providers: [provider], refreshWindow: .seconds(300), now: { clock.now })

        #expect(try await chain.credentials() == firstKeys)
        clock.advance(3600 - 301)
        #expect(try await chain.credentials() == firstKeys)
        #expect(provider.calls == 1)

        let secondKeys = AWSCredentials(accessKeyID: "ASIA2", secretAccessKey: "s2", sessionToken: "t2",
                                        expiration: clock.now.addingTimeInterval(3600))
        provider.answer(.success(.found(secondKeys)))
        clock.advance(2) // now 299 s before expiry: inside the window
        #expect(try await chain.credentials() == secondKeys)
        #expect(provider.calls == 2)
    }

    @Test func aFailedRefreshUsesTheOldCredentialsUntilTheyExpire() async throws {
        let clock = TestClock()
        let keys = AWSCredentials(accessKeyID: "ASIA1", secretAccessKey: "s1", sessionToken: "t1",
                                  expiration: clock.now.addingTimeInterval(600))
        let provider = ScriptedProvider("container", .success(.found(keys)))
        let chain = CredentialChain(providers: [provider], refreshWindow: .seconds(300), now: { clock.now })
        _ = try await chain.credentials()

        provider.answer(.failure(CredentialError("answered HTTP 500")))
        clock.advance(400) // in the refresh window, not expired
        #expect(try await chain.credentials() == keys)
        clock.advance(300) // expired
        await #expect(throws: CredentialError("container: answered HTTP 500")) { try await chain.credentials() }
        #expect(provider.calls == 3)
    }
}

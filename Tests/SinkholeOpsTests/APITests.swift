import Hummingbird
import SinkholePolicy
import Testing
@testable import SinkholeOps

@Suite("Control API pieces")
struct APITests {
    @Test("JSON in keeps numbers, strings and booleans apart; JSON out escapes")
    func json() {
        #expect(JSONInput.parse(Array(#"[1, "1", true, null, 1.5, {"a": []}]"#.utf8))
            == .list([.int(1), .string("1"), .bool(true), .null, .double(1.5), .map([("a", .list([]))])]))
        #expect(JSONInput.parse(Array("[{".utf8)) == nil)
        #expect(JSONInput.parse(Array("not json".utf8)) == nil)
        #expect(JSONOutput.object([("a\"b", .string("x\n\u{1}é")), ("n", .null)]).text == #"{"a\"b":"x\n\u0001é","n":null}"#)
    }

    @Test("The bearer token: exact, scheme in any case, nothing else")
    func bearer() {
        let token = Array("s3cret-token".utf8)
        #expect(BearerAuthentication<BasicRequestContext>.matches("Bearer s3cret-token", token))
        #expect(BearerAuthentication<BasicRequestContext>.matches("bearer s3cret-token", token))
        #expect(!BearerAuthentication<BasicRequestContext>.matches("Bearer s3cret-tokeN", token))
        #expect(!BearerAuthentication<BasicRequestContext>.matches("Bearer s3cret-token ", token))
        #expect(!BearerAuthentication<BasicRequestContext>.matches("s3cret-token", token))
        #expect(!BearerAuthentication<BasicRequestContext>.matches("Basic s3cret-token", token))
    }

    @Test("A multipart message: addresses, encoded words, text, HTML, attachments")
    func mime() {
        let raw = """
        From: "Ann B" <ann@example.com>\r
        To: Bob <bob@example.com>, carol@example.com,\r
         =?UTF-8?Q?J=C3=BCrgen?= <j@example.com>\r
        Subject: =?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?=\r
        Message-ID: <id-1@example.com>\r
        Date: Tue, 1 Dec 2026 10:00:00 +0100\r
        Content-Type: multipart/mixed; boundary="b1"\r
        \r
        preamble\r
        --b1\r
        Content-Type: multipart/alternative; boundary=b2\r
        \r
        --b2\r
        Content-Type: text/plain; charset=utf-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        Hello =C3=BC soft=\r
        break\r
        --b2\r
        Content-Type: text/html\r
        \r
        <p>Hi</p>\r
        --b2--\r
        --b1\r
        Content-Type: application/pdf; name="a.pdf"\r
        Content-Disposition: attachment; filename="a.pdf"\r
        Content-Transfer-Encoding: base64\r
        \r
        AAECAw==\r
        --b1--\r

        """
        let message = MIMEMessage(Array(raw.utf8))
        #expect(message.addresses("From") == [.init(name: "Ann B", address: "ann@example.com")])
        #expect(message.addresses("To").map(\.address) == ["bob@example.com", "carol@example.com", "j@example.com"])
        #expect(message.addresses("To").last?.name == "Jürgen")
        #expect(message.subject == "Grüße aus Köln")
        #expect(message.messageID == "id-1@example.com")
        #expect(message.text == "Hello ü softbreak")
        #expect(message.html == "<p>Hi</p>")
        #expect(message.attachments.map(\.fileName) == ["a.pdf"])
        #expect(message.attachments.first?.partID == "2" && message.attachments.first?.size == 4)
        #expect(MIMEMessage.parseDate(message.header("Date") ?? "") != nil)
        #expect(message.snippet == "Hello ü softbreak")
    }

    @Test("A message without headers or MIME is still shown")
    func plain() {
        let message = MIMEMessage(Array("just a body\r\n".utf8))
        #expect(message.subject == "" && message.addresses("From").isEmpty)
        let bare = MIMEMessage(Array("Subject: hi\n\nbody\n".utf8))
        #expect(bare.subject == "hi" && bare.text == "body\n")
    }

    @Test("Search terms are ANDed, quoted words stay together")
    func search() {
        let search = MailSearch(#"to:bob subject:"two words" hello is:unread"#)
        #expect(search.terms.count == 4)
    }
}

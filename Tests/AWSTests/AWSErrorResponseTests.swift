import Testing
@testable import SinkholeAWS

@Suite struct AWSErrorResponseTests {
    @Test func ssmJSONError() {
        let body = #"{"__type":"ParameterNotFound","message":"Parameter /cabal/sinkhole_mode not found."}"#
        let error = AWSErrorResponse.parse(status: 400, body: Array(body.utf8))
        #expect(error == AWSErrorResponse(code: "ParameterNotFound", message: "Parameter /cabal/sinkhole_mode not found.", status: 400))
        #expect(!error.isThrottling)
    }

    @Test(arguments: [
        ("com.amazonaws.ssm#ThrottlingException", "ThrottlingException"),
        ("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/", "AccessDeniedException"),
        ("UnrecognizedClientException", "UnrecognizedClientException"),
    ])
    func jsonTypeIsShortened(raw: String, code: String) {
        let body = #"{"__type":"\#(raw)","Message":"m"}"#
        let error = AWSErrorResponse.parse(status: 400, body: Array(body.utf8))
        #expect(error.code == code)
        #expect(error.message == "m")
    }

    @Test func throttlingIsRecognised() {
        let body = #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        #expect(AWSErrorResponse.parse(status: 400, body: Array(body.utf8)).isThrottling)
        #expect(AWSErrorResponse.parse(status: 429, body: []).isThrottling)
    }

    /// moto (and the query protocol) answer authentication failures in XML, HTTP 403.
    @Test func xmlError() {
        let body = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ErrorResponse>
          <Errors>
            <Error>
              <Code>SignatureDoesNotMatch</Code>
              <Message>The request signature we calculated does not match the signature you provided. &quot;Check&quot; &amp; retry</Message>
            </Error>
          </Errors>
          <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId>
        </ErrorResponse>
        """
        let error = AWSErrorResponse.parse(status: 403, body: Array(body.utf8))
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.message == #"The request signature we calculated does not match the signature you provided. "Check" & retry"#)
        #expect(error.status == 403)
    }

    @Test(arguments: ["", "<html><body>Bad Gateway</body></html>", "not json", "[1,2]", #"{"other":1}"#])
    func unreadableBodiesGiveNoCode(body: String) {
        let error = AWSErrorResponse.parse(status: 502, body: Array(body.utf8))
        #expect(error.code == nil)
        #expect(error.message == nil)
        #expect(error.status == 502)
    }
}

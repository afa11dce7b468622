/// Where sinkhole's AWS calls go: the region and the SSM endpoint, from the
/// standard AWS SDK environment variables.
public enum AWSEndpoints {
    /// An `--aws-region` flag, then `AWS_REGION`, then `AWS_DEFAULT_REGION`,
    /// then sinkhole's own setting from `SINKHOLE_AWS_REGION` or the config file.
    /// (ECS sets `AWS_REGION` in every task; a flag typed by hand still wins.)
    public static func region(flag: String?, environment: [String: String], configured: String?) -> String? {
        for candidate in [flag, environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"], configured] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        return nil
    }

    /// `AWS_ENDPOINT_URL_SSM`, then `AWS_ENDPOINT_URL` (VPC endpoints, emulators),
    /// else the region's public endpoint. Always ends in `/`: SSM is `POST /`.
    public static func ssm(region: String, environment: [String: String]) -> String {
        for variable in ["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"] {
            if let url = environment[variable], !url.isEmpty {
                return url.hasSuffix("/") ? url : url + "/"
            }
        }
        let domain = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return "https://ssm.\(region).\(domain)/"
    }
}

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0.0, < 6.0.0"
    }
  }

  # State lives in S3; .github/workflows/infra.yml passes the bucket and key
  # (GitHub variables TF_STATE_BUCKET, TF_STATE_KEY) with -backend-config.
  # Tests run `init -backend=false`.
  backend "s3" {}
}

# A root module that plans terraform/modules/sinkhole with the REAL AWS
# provider and no network (terraform/test.sh): every AWS endpoint points at
# tests/fake_sts.py, which answers only sts:GetCallerIdentity. Credentials
# are fake (AWS's documented example keys, from the environment). It checks
# what the mocked `terraform test` cannot: the provider's own plan-time
# validation, the exact set of planned resources (with and without the
# safety net on smtp-out's log group), the prod guard's message, and
# prevent_destroy (with a hand-made state).

terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0.0, < 6.0.0"
    }
  }
}

variable "endpoint" {
  description = "URL of fake_sts.py."
  type        = string
}

variable "environment" {
  description = "Passed to the module."
  type        = string
}

variable "sinkhole" {
  description = "Passed to the module."
  type        = bool
}

variable "smtp_out_log_group_name" {
  description = "Passed to the module: null plans no safety net."
  type        = string
  default     = null
}

variable "queued_alarm_actions" {
  description = "Passed to the module."
  type        = list(string)
  default     = []
}

provider "aws" {
  region                      = "eu-west-2"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 3

  endpoints {
    sts              = var.endpoint
    ecr              = var.endpoint
    ecs              = var.endpoint
    ec2              = var.endpoint
    iam              = var.endpoint
    ssm              = var.endpoint
    logs             = var.endpoint
    cloudwatch       = var.endpoint
    servicediscovery = var.endpoint
  }
}

module "sinkhole" {
  source = "../../modules/sinkhole"

  environment              = var.environment
  sinkhole                 = var.sinkhole
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
  image_tag                = "0123456789abcdef0123456789abcdef01234567"

  smtp_out_log_group_name = var.smtp_out_log_group_name
  queued_alarm_actions    = var.queued_alarm_actions
}

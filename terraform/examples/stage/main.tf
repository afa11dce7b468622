/**
 * Stage: the sinkhole tier next to the existing mail stack, found by name.
 *
 *   terraform init
 *   terraform plan -var sinkhole_image_tag=<sha>
 *
 * Everything looked up here already exists (the VPC, its private subnets,
 * the ECS cluster and the cabal.internal namespace); the module adds the
 * sinkhole and the cabal-sinkhole ECR repository.
 */

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "cabal"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_vpc" "mail" {
  tags = {
    Name = "cabal-vpc"
  }
}

data "aws_subnets" "private" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.mail.id]
  }

  tags = {
    Tier = "private"
  }
}

data "aws_ecs_cluster" "mail" {
  cluster_name = "cabal-mail"
}

data "aws_service_discovery_dns_namespace" "mail" {
  name = "cabal.internal"
  type = "DNS_PRIVATE"
}

module "sinkhole" {
  source = "../../modules/sinkhole"

  sinkhole    = var.sinkhole
  environment = var.environment
  quiesced    = var.quiesced

  vpc_id                   = data.aws_vpc.mail.id
  vpc_cidr                 = data.aws_vpc.mail.cidr_block
  subnet_ids               = data.aws_subnets.private.ids
  ecs_cluster_arn          = data.aws_ecs_cluster.mail.arn
  cloud_map_namespace_id   = data.aws_service_discovery_dns_namespace.mail.id
  cloud_map_namespace_name = data.aws_service_discovery_dns_namespace.mail.name

  image_tag = var.sinkhole_image_tag

  # The alarm on mail queued for sinkhole.test (null: none).
  smtp_out_log_group_name = var.smtp_out_log_group_name
  queued_alarm_actions    = var.queued_alarm_actions

  # Defaults, spelled out for the reader:
  parameter_name         = "/cabal/sinkhole_mode"
  initial_mode           = "defer"
  mode_cache_ttl_seconds = 30
  container_port         = 25
  log_retention_days     = 30
}

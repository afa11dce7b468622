# -- The flag and the environment ---------------------------------------------

variable "sinkhole" {
  description = "Create the sinkhole tier (task definition, ECS service, Cloud Map service, SSM parameter, IAM roles, security group, log group). false creates only the ECR repository. Refused in prod by a precondition."
  type        = bool
  default     = false
  nullable    = false
}

variable "environment" {
  description = "Environment this stack deploys: dev, development, stage or prod. The prod guard compares it with \"prod\", so no other spelling of prod (\"production\", \"Prod\") is accepted."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["dev", "development", "stage", "prod"], var.environment)
    error_message = "environment must be one of dev, development, stage, prod (exactly; the prod guard depends on it)."
  }
}

variable "quiesced" {
  description = "Scale the sinkhole ECS service to 0 tasks (as every mail tier does when quiesced). The Cloud Map service stays, with no instances."
  type        = bool
  default     = false
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of the names of the ECS service, task family, IAM roles, security group and log group (PREFIX-sinkhole...). Change it when two environments share one AWS account."
  type        = string
  default     = "cabal"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-32 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}

# -- Network and cluster ------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the mail tiers; the security group is created in it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the task's ENI (awsvpc), the same ones the mail tiers use. The task gets no public IP."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one id, each like subnet-0123456789abcdef0."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC. The only source allowed to reach the SMTP port."
  type        = string
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && var.vpc_cidr != "0.0.0.0/0"
    error_message = "vpc_cidr must be an IPv4 CIDR such as 10.0.0.0/16, and not 0.0.0.0/0."
  }
}

variable "egress_cidr_blocks" {
  description = "Where the task may open HTTPS (443/tcp) connections: the SSM API only. 0.0.0.0/0 by default because SSM's public endpoint has no AWS-managed prefix list; set it to [vpc_cidr] when the VPC has an SSM interface endpoint."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = length(var.egress_cidr_blocks) > 0 && alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "egress_cidr_blocks must hold at least one IPv4 CIDR."
  }
}

variable "ecs_cluster_arn" {
  description = "ARN of the existing ECS cluster (EC2 container instances) the service runs in."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}$", var.ecs_cluster_arn))
    error_message = "ecs_cluster_arn must be a cluster ARN: arn:aws:ecs:REGION:ACCOUNT:cluster/NAME."
  }
}

variable "capacity_provider_name" {
  description = "EC2 capacity provider to place the task with. null (the default) uses launch type EC2 instead."
  type        = string
  default     = null
}

variable "cloud_map_namespace_id" {
  description = "Id of the existing private DNS namespace (cabal.internal) in which the sinkhole service registers."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^ns-[a-zA-Z0-9]{1,64}$", var.cloud_map_namespace_id))
    error_message = "cloud_map_namespace_id must look like ns-abcdefghijklmnop."
  }
}

variable "cloud_map_namespace_name" {
  description = "DNS name of that namespace, e.g. cabal.internal. Used only to output the sinkhole's DNS name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.cloud_map_namespace_name))
    error_message = "cloud_map_namespace_name must be a lower-case DNS name such as cabal.internal."
  }
}

variable "cloud_map_service_name" {
  description = "Name of the Cloud Map service: the sinkhole answers at NAME.NAMESPACE (sinkhole.cabal.internal)."
  type        = string
  default     = "sinkhole"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.cloud_map_service_name))
    error_message = "cloud_map_service_name must be one DNS label (lower-case letters, digits, hyphens)."
  }
}

# -- Image and container ------------------------------------------------------

variable "ecr_repository_name" {
  description = "Name of the ECR repository. Created whatever the flag, and never destroyed by Terraform (prevent_destroy)."
  type        = string
  default     = "cabal-sinkhole"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.ecr_repository_name)) && length(var.ecr_repository_name) <= 256
    error_message = "ecr_repository_name must be a valid ECR repository name (lower case, digits, . _ - /)."
  }
}

variable "ecr_image_tag_mutability" {
  description = "IMMUTABLE (default): a tag names one image forever, so a task definition that names a tag always runs the image that was tested. Pushing the same tag twice then fails; CI must push unique tags (the commit SHA)."
  type        = string
  default     = "IMMUTABLE"
  nullable    = false

  validation {
    condition     = contains(["IMMUTABLE", "MUTABLE"], var.ecr_image_tag_mutability)
    error_message = "ecr_image_tag_mutability must be IMMUTABLE or MUTABLE."
  }
}

variable "ecr_kms_key_arn" {
  description = "Customer-managed KMS key for the ECR repository. null uses KMS encryption with the AWS-managed aws/ecr key."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag of the sinkhole image in the ECR repository (the commit SHA CI pushed). Required when sinkhole = true. Read only when the task definition is first created: container_definitions are ignored afterwards (the deploy pipeline registers new revisions)."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag: up to 128 letters, digits, _ . -, not starting with . or -."
  }
}

variable "container_port" {
  description = "TCP port sinkhole listens on in the container (SINKHOLE_LISTEN=0.0.0.0:PORT), the port mapping, and the port the security group opens. smtp-out's mailertable must use the same port. Ports below 1024 work as non-root through the task's net.ipv4.ip_unprivileged_port_start=0 sysctl."
  type        = number
  default     = 25
  nullable    = false

  validation {
    condition     = var.container_port == floor(var.container_port) && var.container_port >= 1 && var.container_port <= 65535
    error_message = "container_port must be an integer from 1 to 65535."
  }
}

variable "container_user" {
  description = "Numeric uid[:gid] the container runs as. Must not be root (uid 0)."
  type        = string
  default     = "65532:65532"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(:[0-9]+)?$", var.container_user)) && !can(regex("^0+(:|$)", var.container_user))
    error_message = "container_user must be a numeric uid or uid:gid, and the uid must not be 0 (root)."
  }
}

variable "memory_reservation" {
  description = "Container memoryReservation (soft limit) in MiB."
  type        = number
  default     = 64
  nullable    = false

  validation {
    condition     = var.memory_reservation == floor(var.memory_reservation) && var.memory_reservation > 0
    error_message = "memory_reservation must be a positive integer (MiB)."
  }

  validation {
    condition     = var.memory_reservation <= var.memory
    error_message = "memory_reservation must not exceed memory (the hard limit)."
  }
}

variable "memory" {
  description = "Container memory hard limit in MiB; the container is killed above it."
  type        = number
  default     = 128
  nullable    = false

  validation {
    # ECS refuses a container hard limit under 6 MiB.
    condition     = var.memory == floor(var.memory) && var.memory >= 6
    error_message = "memory must be an integer of at least 6 (MiB)."
  }
}

# -- Mode parameter and logs --------------------------------------------------

variable "parameter_name" {
  description = "Name of the SSM parameter that holds the mode. The task role may read this one parameter and nothing else."
  type        = string
  default     = "/cabal/sinkhole_mode"
  nullable    = false

  validation {
    condition = (
      can(regex("^(/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$", var.parameter_name))
      && length(var.parameter_name) <= 1011
      && !can(regex("^/?(?i:aws|ssm)", var.parameter_name))
    )
    error_message = "parameter_name must be an SSM parameter name: /a/b/c or a flat name, letters, digits, _ . -, not starting with aws or ssm."
  }
}

variable "initial_mode" {
  description = "Value the SSM parameter is created with. Terraform never changes it afterwards (ignore_changes): operators own it."
  type        = string
  default     = "defer"
  nullable    = false

  validation {
    condition     = contains(["defer", "bounce", "accept", "accept-log", "greylist"], var.initial_mode)
    error_message = "initial_mode must be one of defer, bounce, accept, accept-log, greylist."
  }
}

variable "mode_cache_ttl_seconds" {
  description = "How long sinkhole uses a mode read from SSM before reading it again (SINKHOLE_MODE_CACHE_TTL). Bounds both the SSM call rate and how long a put-parameter takes to show."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.mode_cache_ttl_seconds == floor(var.mode_cache_ttl_seconds) && var.mode_cache_ttl_seconds >= 1 && var.mode_cache_ttl_seconds <= 3600
    error_message = "mode_cache_ttl_seconds must be an integer from 1 to 3600."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group that receives sinkhole's stdout (accept-log headers included)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key to encrypt the log group with. null keeps CloudWatch Logs' default encryption. The key policy must allow the logs service."
  type        = string
  default     = null
}

variable "open_files_limit" {
  description = "The container's nofile ulimit (soft and hard): sinkhole holds one descriptor per connection."
  type        = number
  default     = 65536

  validation {
    condition     = var.open_files_limit >= 1024 && var.open_files_limit <= 1048576 && floor(var.open_files_limit) == var.open_files_limit
    error_message = "open_files_limit must be a whole number from 1024 to 1048576."
  }
}

# -- Safety net on smtp-out's log group ------------------------------------------

variable "smtp_out_log_group_name" {
  description = "Name of smtp-out's CloudWatch log group (sendmail's log). Given, the module adds a metric filter on it that counts mail queued for sinkhole.test (sendmail's to= lines that end Deferred or queued) and an alarm on one such line in 5 minutes, whatever var.sinkhole says. null (the default) creates neither. The log group must exist: the module does not create it."
  type        = string
  default     = null

  validation {
    condition     = var.smtp_out_log_group_name == null || can(regex("^[A-Za-z0-9_/.#-]{1,512}$", var.smtp_out_log_group_name))
    error_message = "smtp_out_log_group_name must be a log group name (1-512 letters, digits, _ - / . #), not an ARN, or null."
  }
}

variable "queued_alarm_actions" {
  description = "ARNs the alarm notifies when it fires (an SNS topic of the existing alarms, for instance); at most 5, as CloudWatch allows. Empty (the default): the alarm only changes state. Needs smtp_out_log_group_name."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.queued_alarm_actions) <= 5 && alltrue([for a in var.queued_alarm_actions : can(regex("^arn:aws[a-z-]*:[a-z0-9-]+:", a))])
    error_message = "queued_alarm_actions must hold at most 5 ARNs (arn:aws:sns:REGION:ACCOUNT:TOPIC, ...)."
  }

  validation {
    condition     = length(var.queued_alarm_actions) == 0 || var.smtp_out_log_group_name != null
    error_message = "queued_alarm_actions needs smtp_out_log_group_name: without a log group there is no alarm to notify from."
  }
}

variable "queued_metric_namespace" {
  description = "CloudWatch namespace of the metric the filter publishes (and the alarm watches). The runbook's CLI commands use the default."
  type        = string
  default     = "Cabalmail/SmtpOut"
  nullable    = false

  validation {
    condition     = can(regex("^[^:*$]{1,255}$", var.queued_metric_namespace)) && !startswith(var.queued_metric_namespace, "AWS/")
    error_message = "queued_metric_namespace must be 1-255 characters without : * or $, and must not start with AWS/ (AWS's own namespaces)."
  }
}

variable "queued_metric_name" {
  description = "Name of that metric."
  type        = string
  default     = "SinkholeTestQueued"
  nullable    = false

  validation {
    condition     = can(regex("^[^:*$]{1,255}$", var.queued_metric_name))
    error_message = "queued_metric_name must be 1-255 characters without : * or $."
  }
}

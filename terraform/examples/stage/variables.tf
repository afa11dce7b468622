# In the infra.yml flow these come from GitHub variables, per environment:
#   TF_VAR_SINKHOLE     vars.TF_VAR_SINKHOLE    (prod: false, always)
#   TF_VAR_ENVIRONMENT  vars.TF_VAR_ENVIRONMENT (derived from the branch)
#   TF_VAR_QUIESCED     as for every other tier (docs/quiesce.md)

variable "region" {
  description = "AWS region of the mail stack."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name; the module refuses the tier when it is prod."
  type        = string
  default     = "stage"
}

variable "sinkhole" {
  description = "The flag: create the sinkhole tier."
  type        = bool
  default     = true
}

variable "quiesced" {
  description = "Scale every tier, the sinkhole included, to zero."
  type        = bool
  default     = false
}

variable "sinkhole_image_tag" {
  description = "Tag CI pushed to the cabal-sinkhole repository (the commit SHA)."
  type        = string
  default     = null
}

variable "smtp_out_log_group_name" {
  description = "smtp-out's log group: the module adds the alarm on mail queued for sinkhole.test to it. null: no alarm."
  type        = string
  default     = null
}

variable "queued_alarm_actions" {
  description = "SNS topic ARNs (at most 5) that alarm notifies."
  type        = list(string)
  default     = []
}

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

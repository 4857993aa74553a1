# Redis (cache, throttles, Celery broker, the beat leader lock): a replication group with a
# replica in another zone and automatic failover; encrypted at rest (CMK) and in transit, with
# an AUTH token kept in Secrets Manager.
resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Redis from the EKS nodes only"
  vpc_id      = aws_vpc.main.id
  ingress {
    description     = "Redis TLS from the application pods"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_eks_cluster.main.vpc_config[0].cluster_security_group_id]
  }
}

data "aws_secretsmanager_random_password" "redis_auth" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id       = local.name
  description                = "fintech ${var.environment} Redis"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = local.az_count
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this["cache"].arn
  transit_encryption_enabled = true
  auth_token                 = data.aws_secretsmanager_random_password.redis_auth.random_password
  snapshot_retention_limit   = 7
  auto_minor_version_upgrade = true
  lifecycle {
    # The token is rotated through Secrets Manager afterwards (secrets.tf), not by Terraform.
    ignore_changes = [auth_token]
  }
}

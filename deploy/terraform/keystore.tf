# The subject-key store (docs/adr/0007, "A key store outside the main backups"): the per-subject data
# keys (compliance.SubjectKey, crypto-shredding) in their own small RDS PostgreSQL instance, so that
# no backup of the main database (35 days of PITR, rds.tf) ever holds a key. Erasure destroys a
# subject's key here; what bounds how long a destroyed key survives in any backup is this
# instance's own retention: 1 day of point-in-time recovery (the shortest RDS allows with backups
# on), no manual snapshots, no final snapshot. A restored old main backup is served by the current
# key store, which only ever grows: the subjects erased since read "[shredded]" at once.
#
# The app reaches it through SUBJECT_KEYS_DATABASE_URL (secret subject_keys_database_url, secrets.tf;
# SUBJECT_KEYS_DATABASE_URL_FILE in deploy/k8s); production refuses `check --deploy` without it
# (compliance.E125). Its own KMS key: the database key (rds.tf) decrypts none of it.
resource "aws_db_instance" "keys" {
  identifier                          = "${local.name}-keys"
  engine                              = "postgres"
  engine_version                      = "15"
  instance_class                      = var.keys_db_instance_class
  allocated_storage                   = 20
  max_allocated_storage               = 100
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.this["keystore"].arn
  db_name                             = "fintech_keys"
  username                            = "fintech_keys_admin"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.this["secrets"].arn
  iam_database_authentication_enabled = true
  multi_az                            = true
  db_subnet_group_name                = aws_db_subnet_group.main.name
  vpc_security_group_ids              = [aws_security_group.database.id]
  parameter_group_name                = aws_db_parameter_group.postgres.name
  publicly_accessible                 = false
  # One day, deliberately: it bounds how long a destroyed subject key survives in a backup (ADR 0007).
  backup_retention_period = 1
  backup_window           = "01:30-02:00"
  maintenance_window      = "sun:03:00-sun:04:00"
  copy_tags_to_snapshot   = true
  deletion_protection     = true
  # No final snapshot: it would keep every key, destroyed ones included, for as long as it exists.
  # Deletion protection guards against deleting the instance by mistake.
  skip_final_snapshot                   = true
  delete_automated_backups              = true
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this["keystore"].arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  tags                                  = { "fintech/data" = "subject-keys", "fintech/manual-snapshots" = "forbidden" }
}

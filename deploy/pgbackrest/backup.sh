#!/bin/sh
# A scheduled pgBackRest backup (deploy/pgbackrest/pgbackrest.conf has the schedule), run by cron
# on the backup host as the postgres account:
#   0 1 * * 0     /opt/fintech/backup.sh full
#   0 1 * * 1-6   /opt/fintech/backup.sh diff
# On success it records the time for node_exporter's textfile collector; the FintechBackupStale
# alert (deploy/monitoring/prometheus-rules.yml) fires when no backup succeeded for 26 hours.
set -eu
type="${1:?usage: backup.sh full|diff}"
case "$type" in full|diff) ;; *) echo "backup.sh: type must be full or diff" >&2; exit 2 ;; esac
config="${PGBACKREST_CONFIG:-/etc/pgbackrest/pgbackrest.conf}"
textfile_dir="${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}"

pgbackrest --config="$config" --stanza=fintech --type="$type" backup
pgbackrest --config="$config" --stanza=fintech check

metric="$textfile_dir/pgbackrest_$type.prom"
{
  echo "# HELP pgbackrest_backup_last_success_timestamp_seconds When the last pgBackRest backup of this type completed."
  echo "# TYPE pgbackrest_backup_last_success_timestamp_seconds gauge"
  echo "pgbackrest_backup_last_success_timestamp_seconds{stanza=\"fintech\",type=\"$type\"} $(date +%s)"
} > "$metric.$$"
mv "$metric.$$" "$metric"

/**
 * The commented `config/audit.yaml` that `vigil init` writes: every section, with the
 * defaults spelled out and a comment on what each key does, so the file is its own
 * short reference (docs/configuration.md is the long one).
 *
 * @module
 */

/** What the template is filled with. */
export interface InitTemplateOptions {
  /** `core.application_name`. */
  readonly applicationName: string;
  /** The file backend's `directory`. Default `./logs/audit`. */
  readonly directory?: string;
}

/**
 * A YAML double-quoted scalar for `text`: JSON's escapes are valid YAML, and `${` is
 * written `$${` so the value is not read as an environment variable reference.
 */
export function yamlString(text: string): string {
  return JSON.stringify(text.replaceAll("${", () => "$${")); // a function: "$$" in a replacement string is "$"
}

/** The text of a new configuration file. */
export function initTemplate(options: InitTemplateOptions): string {
  const name = yamlString(options.applicationName);
  const directory = yamlString(options.directory ?? "./logs/audit");
  return `# vigil audit logging configuration.
# Every key is optional: what is left out gets its default. Reference: docs/configuration.md
# in the vigil-audit package. Values may use environment variables: "\${NAME}" or
# "\${NAME:-default}". Check this file with any vigil command, e.g. \`vigil search --limit 1\`.
vigil:
  core:
    # false turns every capture into a no-op (VIGIL_ENABLED=false does the same at run time).
    enabled: true
    # application.name on every event, and {application} in file names.
    application_name: ${name}
    # application.version and application.environment on every event (quote versions: "2.0").
    # version: "1.0.0"
    # environment: "\${NODE_ENV:-development}"

  storage:
    # Every event goes to every backend listed; one failing does not stall the others.
    backends:
      # JSON Lines, one event per line (readable with jq), one file per category per UTC day.
      - type: file
        directory: ${directory}
        # Placeholders: {application}, {category} (lower case), {date} (UTC YYYY-MM-DD), {hour}.
        filename_pattern: "{application}_audit_{category}_{date}.log"
        rotation:
          enabled: true
          when: midnight          # midnight | hourly | size | none
          max_bytes: 104857600    # with when: size, start a new file past this size (100 MiB)
          backup_count: 0         # rotated files kept per pattern; 0 keeps all
          compress: false         # gzip files whose newest event is older than compress_after_days
          compress_after_days: 7

      # A database as well (or instead): SQLite, PostgreSQL or MySQL/MariaDB. The driver
      # (better-sqlite3, pg or mysql2) must be installed.
      # - type: database
      #   enabled: false
      #   connection:
      #     dialect: sqlite       # sqlite | postgresql | mysql
      #     filename: ./logs/audit.db
      #     # host: "\${DB_HOST}"
      #     # port: "\${DB_PORT}"
      #     # database: "\${DB_NAME}"
      #     # username: "\${DB_USER}"
      #     # password: "\${DB_PASSWORD}"
      #   table_name: vigil_audit_events

  processing:
    # Redaction of params, metadata, results and error messages before anything is stored.
    sanitization:
      enabled: true
      # Built-in rules (password, credit_card, ssn, email) or regular expressions.
      redact_patterns: [password, credit_card, ssn, email]
      # Secret shapes in any string (JWTs, private keys, cloud/GitHub/Slack/Stripe tokens, ...),
      # on unless set to false.
      detect_secrets: true
      # Extra key names whose values are replaced whole (any case).
      redact_keys: []
      replacement: "[REDACTED]"
    # Drop events before they are queued (dropped events are counted, never silent), e.g.
    #   - type: severity
    #     levels: [INFO, WARNING, ERROR, CRITICAL]
    #   - type: category
    #     exclude: [HEARTBEAT]
    filters: []
    # Bounds on captured values: what goes past them is cut and marked.
    limits:
      max_depth: 32
      max_string_length: 65536
      max_entries: 1000

  performance:
    async:
      enabled: true           # queue events and write them in the background
      queue_size: 10000
      on_full: block          # block: wait for room | drop: drop (each drop is counted and recorded)
    batching:
      enabled: true
      batch_size: 100         # write when this many events wait...
      batch_timeout_seconds: 1  # ...or when the oldest has waited this long
    durability: batch         # fsync: none | batch (after each batch) | event (after each event)

  compliance:
    gdpr:
      # With enabled: true and retention_days > 0, \`vigil retention\` deletes older events
      # (and auto_delete_after_retention: true does it automatically).
      enabled: false
      retention_days: 0       # 0 keeps events forever
      auto_delete_after_retention: false
      # Erasure (GDPR art. 17): personal fields sealed under a key per person, so that
      # engine.eraseSubject(id) destroys them and the store still verifies (docs/privacy.md).
      # Events written without it are erased by signed in-place redaction instead
      # (vigil subject erase ID); fields below are replaced then too.
      erasure:
        enabled: false
        # key: "\${VIGIL_SUBJECT_MASTER_KEY}"   # 32 bytes: vigil keygen --algorithm aes-256-gcm
        fields: []             # more personal fields, e.g. [metadata.address]

  security:
    # AES-256-GCM of stored events. key: 64 hex characters (openssl rand -hex 32), from the environment.
    encryption:
      enabled: false
      # key: "\${AUDIT_ENCRYPTION_KEY}"
      # key_id: "2025-01"
      # Fields left readable for filtering without the key (files and database columns);
      # list only fields that hold no personal data.
      # clear_fields: [action.category, severity]
    # Hash chain and signed checkpoints, checked by \`vigil verify\`.
    signing:
      enabled: false
      algorithm: hmac-sha256  # hmac-sha256 | ed25519
      # secret_key: "\${AUDIT_SIGNING_KEY}"
`;
}

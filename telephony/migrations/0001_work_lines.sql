-- Registered work lines: the only way out for outbound calls.
CREATE TABLE work_lines (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    trunk_host     text        NOT NULL,
    trunk_port     integer     NOT NULL DEFAULT 5060 CHECK (trunk_port BETWEEN 1 AND 65535),
    transport      text        NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp')),
    username       text,
    password       text,
    caller_id      text        NOT NULL CHECK (caller_id ~ '^\+?[0-9]{3,20}$'),
    max_channels   integer     NOT NULL DEFAULT 30 CHECK (max_channels > 0),
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

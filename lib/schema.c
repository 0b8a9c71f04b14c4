/* schema.c - field rules for every record type (see spool-layout.md). */
#include "schema.h"

#define SCHEMA(var, name, maxsize, ...)                                           \
	static const struct rec_rule var##_rules[] = { __VA_ARGS__ };              \
	const struct rec_schema var = { name, maxsize, var##_rules, ARRAY_LEN(var##_rules) }

SCHEMA(schema_job, "job", MAX_JOB_RECORD,
       { "id", RF_REQ, 64, 0 },
       { "name", 0, MAX_LABEL_LEN, 0 },
       { "cwd", RF_REQ, MAX_PATH_LEN, 0 },
       { "outdir", 0, MAX_PATH_LEN, 0 },
       { "timeout_ms", RF_NUM, 20, 0 },
       { "retries", RF_NUM, 20, 0 },
       { "map", RF_NUM, 1, 0 },
       { "apply", RF_NUM, 1, 0 },
       { "schedule", 0, 16, 0 },
       { "targets", 0, MAX_TARGETS_LEN, 0 },
       { "builtin", 0, 16, 0 },
       { "client_node", 0, 64, 0 },
       { "client", 0, 64, 0 },
       { "seq", RF_NUM, 20, 0 },
       { "umask", RF_NUM, 4, 0 },
       { "after", RF_MULTI, MAX_DEP_LEN, MAX_DEPS },
       { "afterok", RF_MULTI, MAX_DEP_LEN, MAX_DEPS },
       { "after_each", 0, MAX_DEP_LEN, 0 },
       { "priority", 0, 12, 0 },          /* signed: checked by spoold */
       { "max_running", RF_NUM, 10, 0 },
       { "retry_on_failure", RF_NUM, 1, 0 },
       { "retry_of", 0, 64, 0 },
       { "mem", RF_NUM, 16, 0 },          /* bytes, MIN_MEM .. MAX_MEM: checked by spoold */
       { "env", RF_MULTI, MAX_ENV_LEN, MAX_ENV },
       { "arg", RF_MULTI | RF_REQ, MAX_ARG_LEN, MAX_ARGS },
       { "item", RF_MULTI, MAX_ITEM_LEN, MAX_ITEMS });

SCHEMA(schema_cancel, "cancel", MAX_SMALL_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "task", RF_NUM, 20, 0 },
       { "client", 0, 64, 0 },
       { "seq", RF_NUM, 20, 0 });

SCHEMA(schema_hold, "hold", MAX_SMALL_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "op", RF_REQ, 8, 0 },            /* hold or release */
       { "client", 0, 64, 0 },
       { "seq", RF_NUM, 20, 0 });

SCHEMA(schema_purge, "purge", MAX_SMALL_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "client", 0, 64, 0 },
       { "seq", RF_NUM, 20, 0 });

SCHEMA(schema_hello, "hello", MAX_SMALL_RECORD,
       { "wid", RF_REQ, 64, 0 },
       { "node", RF_REQ, 64, 0 },
       { "pid", RF_REQ | RF_NUM, 20, 0 },
       { "boot", RF_REQ, 64, 0 },
       { "start", RF_NUM, 20, 0 },
       { "slots", RF_REQ | RF_NUM, 20, 0 },
       { "version", 0, 32, 0 });

SCHEMA(schema_beat, "beat", MAX_SMALL_RECORD,
       { "count", RF_REQ | RF_NUM, 20, 0 },
       { "running", RF_MULTI, 200, 1024 });

SCHEMA(schema_bye, "bye", MAX_SMALL_RECORD,
       { "wid", RF_REQ, 64, 0 });

SCHEMA(schema_reg, "reg", MAX_SMALL_RECORD,
       { "wid", RF_REQ, 64, 0 },
       { "state", RF_REQ, 16, 0 },
       { "engine", RF_MULTI, 64, 1024 },
       { "mac", RF_REQ, 64, 0 });

SCHEMA(schema_assign, "assign", MAX_ASSIGN_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "task", RF_REQ | RF_NUM, 20, 0 },
       { "attempt", RF_REQ | RF_NUM, 20, 0 },
       { "engine", RF_REQ | RF_NUM, 20, 0 },
       { "seq", RF_REQ | RF_NUM, 20, 0 },
       { "uid", RF_REQ | RF_NUM, 10, 0 },
       { "name", 0, MAX_LABEL_LEN, 0 },
       { "cwd", RF_REQ, MAX_PATH_LEN, 0 },
       { "outdir", RF_REQ, MAX_PATH_LEN, 0 },
       { "timeout_ms", RF_NUM, 20, 0 },
       { "mem", RF_NUM, 16, 0 },          /* bytes, MIN_MEM .. MAX_MEM: checked by the worker */
       { "builtin", 0, 16, 0 },
       { "umask", RF_NUM, 4, 0 },
       { "env", RF_MULTI, MAX_ENV_LEN, MAX_ENV },
       { "arg", RF_MULTI | RF_REQ, MAX_ARG_LEN, MAX_ARGS },
       { "mac", RF_REQ, 64, 0 });

SCHEMA(schema_vars, "vars", MAX_VARS_RECORD,
       { "var", RF_MULTI, MAX_VAR_NAME + 1 + MAX_VAR_VALUE, MAX_VARS });

SCHEMA(schema_done, "done", MAX_SMALL_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "task", RF_REQ | RF_NUM, 20, 0 },
       { "attempt", RF_REQ | RF_NUM, 20, 0 },
       { "engine", RF_REQ | RF_NUM, 20, 0 },
       { "wid", RF_REQ, 64, 0 },
       { "node", RF_REQ, 64, 0 },
       { "status", RF_REQ, 16, 0 },
       { "exit", RF_NUM, 3, 0 },
       { "signal", RF_NUM, 3, 0 },
       { "reason", 0, MAX_REASON_LEN, 0 },
       { "start_ms", RF_NUM, 20, 0 },
       { "end_ms", RF_NUM, 20, 0 },
       { "wall_ms", RF_NUM, 20, 0 },
       { "user_ms", RF_NUM, 20, 0 },
       { "sys_ms", RF_NUM, 20, 0 },
       { "maxrss_kb", RF_NUM, 20, 0 },
       { "stdout", 0, MAX_PATH_LEN, 0 },
       { "stderr", 0, MAX_PATH_LEN, 0 });

SCHEMA(schema_jobstate, "jobstate", MAX_STATE_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "name", 0, MAX_LABEL_LEN, 0 },
       { "owner", RF_NUM, 20, 0 },
       { "cwd", 0, MAX_PATH_LEN, 0 },
       { "outdir", RF_REQ, MAX_PATH_LEN, 0 },
       { "ntasks", RF_REQ | RF_NUM, 20, 0 },
       { "state", RF_REQ, 16, 0 },
       { "task", RF_MULTI, 256, MAX_ITEMS },
       { "reason", RF_MULTI, MAX_REASON_LEN + 32, MAX_ITEMS },
       { "dup", RF_MULTI, 256, MAX_ITEMS });

/* Format 3 carries the tasks of a small job (at most a chunk's worth) inline: as big as a chunk. */
SCHEMA(schema_jobsum, "jobsum", MAX_CHUNK_RECORD,
       { "format", RF_REQ | RF_NUM, 20, 0 },
       { "job", RF_REQ, 64, 0 },
       { "name", 0, MAX_LABEL_LEN, 0 },
       { "owner", RF_REQ | RF_NUM, 20, 0 },
       { "cwd", RF_REQ, MAX_PATH_LEN, 0 },
       { "outdir", RF_REQ, MAX_PATH_LEN, 0 },
       { "command", 0, 1024, 0 },
       { "ntasks", RF_REQ | RF_NUM, 20, 0 },
       { "state", RF_REQ, 16, 0 },
       { "chunk", RF_REQ | RF_NUM, 20, 0 },
       { "count", RF_MULTI, 64, 16 },
       { "order", RF_NUM, 20, 0 },
       { "submitted_ms", RF_NUM, 20, 0 },
       { "finished_ms", RF_NUM, 20, 0 },
       { "waiting", 0, MAX_WAITING_LEN, 0 },
       { "held", RF_NUM, 1, 0 },
       { "task", RF_MULTI, 256, 1024 },
       { "reason", RF_MULTI, MAX_REASON_LEN + 32, 1024 },
       { "dup", RF_MULTI, 256, 65536 });

SCHEMA(schema_jobtasks, "jobtasks", MAX_CHUNK_RECORD,
       { "job", RF_REQ, 64, 0 },
       { "chunk", RF_REQ | RF_NUM, 20, 0 },
       { "task", RF_MULTI, 256, 1024 },
       { "reason", RF_MULTI, MAX_REASON_LEN + 32, 1024 },
       { "dup", RF_MULTI, 256, 65536 });

SCHEMA(schema_ctlinfo, "controller", MAX_SMALL_RECORD,
       { "node", RF_REQ, 64, 0 },
       { "pid", RF_REQ | RF_NUM, 20, 0 },
       { "boot", RF_REQ, 64, 0 },
       { "start", RF_NUM, 20, 0 },
       { "fs", 0, 64, 0 },
       { "database", 0, MAX_PATH_LEN, 0 },
       { "version", 0, 32, 0 });

SCHEMA(schema_engines, "engines", 64u * 1024 * 1024,
       { "engine", RF_MULTI, 512, 1000000 });

SCHEMA(schema_inflight, "inflight", MAX_SMALL_RECORD,
       { "step", RF_REQ, 16, 0 },
       { "job", RF_REQ, 64, 0 },
       { "count", RF_REQ | RF_NUM, 20, 0 });

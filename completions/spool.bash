# bash completion for spool, spoold and spool-worker (installed as
# PREFIX/share/bash-completion/completions/spool, with spoold and spool-worker linked to it).
# Every subcommand and option of `spool COMMAND --help`; job ids from `spool status --json`,
# engine ids from `spool workers --json`, both of the spool named by -d/--dir or $SPOOL_DIR.
# Works without the bash-completion package (it uses none of its helpers).

# The spool's -d/--dir from the words typed so far, as "-d DIR" words for the lookups.
_spool_dir_args()
{
	local i w
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-d | --dir) [[ $((i + 1)) -lt $COMP_CWORD ]] && printf '%s\n' -d "${COMP_WORDS[i + 1]}" && return ;;
		--dir=*) printf '%s\n' -d "${w#--dir=}" && return ;;
		--) return ;;
		esac
	done
}

# The ids of the user's jobs, from `spool status --json` ({"jobs":[{"job":"ID",...},...]}).
_spool_jobs()
{
	local -a dir
	mapfile -t dir < <(_spool_dir_args)
	"${1:-spool}" "${dir[@]}" status --json 2>/dev/null | grep -o '"job":"[^"]*"' | sed 's/^"job":"//; s/"$//'
}

# The ids of the live engines, from `spool workers --json` ([{"id":N,...},...]).
_spool_engines()
{
	local -a dir
	mapfile -t dir < <(_spool_dir_args)
	"${1:-spool}" "${dir[@]}" workers --json 2>/dev/null | grep -o '"id":[0-9]*' | sed 's/^"id"://'
}

# COMPREPLY from a word list ($1) for the current word ($2).
_spool_words()
{
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

_spool_files()
{ # $1: -d for directories only
	mapfile -t COMPREPLY < <(compgen -f ${1:+-d} -- "$2")
	compopt -o filenames 2>/dev/null
}

_spool()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local prog=${COMP_WORDS[0]} cmd="" i w dashdash=0 after=0
	local cmds="init submit map apply collect status workers cancel push pull doctor config hold release retry purge tail acct help"
	local common="-d --dir -h --help"
	local run="--cwd --output --env --no-env --timeout --retries --name --wait --tag --targets --after --afterany --afterok --priority --max-running --retry-on-failure --stdin --mem --json --cancel-on-interrupt $common"
	COMPREPLY=()

	# The subcommand: the first word after the global options (and -d's argument).
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			-d | --dir) ((i++)) ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		elif [[ $w == -- ]]; then
			dashdash=$i
			break
		fi
	done

	# After '--' of submit, map or apply: the task's command, then files (or map's items).
	if ((dashdash)); then
		after=$((COMP_CWORD - dashdash))
		if ((after == 1)); then
			mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
		else
			_spool_files "" "$cur"
		fi
		return 0
	fi

	# An option's argument.
	case $prev in
	-d | --dir | --cwd | --output) _spool_files -d "$cur"; return 0 ;;
	--input | --stdin) _spool_files "" "$cur"; [[ -z $cur ]] && COMPREPLY+=(-); return 0 ;;
	--schedule) _spool_words "balanced static" "$cur"; return 0 ;;
	--group) _spool_words "$(compgen -g)" "$cur"; return 0 ;;
	--targets) _spool_words "all $(_spool_engines "$prog")" "$cur"; return 0 ;;
	--after | --afterany | --afterok | --after-each) _spool_words "$(_spool_jobs "$prog")" "$cur"; return 0 ;;
	--user) _spool_words "$(compgen -u)" "$cur"; return 0 ;;
	--state) _spool_words "submitted active done held waiting queued assigned running succeeded failed timedout cancelled abandoned skipped" "$cur"; return 0 ;;
	--env | --timeout | --retries | --name | --priority | --max-running | --older-than | --since | --mem) return 0 ;; # free text
	--wait) [[ $cmd == workers ]] && return 0 ;;        # workers --wait N; elsewhere a flag
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_spool_words "-d --dir -h --help -V --version" "$cur"
		else
			_spool_words "$cmds" "$cur"
		fi
		return 0
	fi

	local opts="" args=""
	case $cmd in
	init) opts="--shared --group $common" args=dir ;;
	submit) opts="$run" ;;
	map) opts="$run --input --schedule --after-each" ;;
	apply) opts="$run" ;;
	collect) opts="--no-wait --timeout --follow --tag --json --all --cancel-on-interrupt $common" args=job ;;
	status) opts="--json --tasks --user --state --since $common" args=job ;;
	acct) opts="--user --since --json $common" args=job ;;
	workers) opts="--all --wait --timeout --json $common" ;;
	cancel) opts="$common" args=job ;;
	push) opts="--targets --wait $common" ;;
	pull) opts="--targets --wait --tag $common" ;;
	doctor) opts="--json $common" ;;
	config) opts="--defaults $common" ;;
	help) opts="$common" args=cmd ;;
	hold | release) opts="$common" args=job ;;
	retry) opts="--failed --timed-out --cancelled --abandoned --skipped --wait $common" args=job ;;
	purge) opts="--older-than --results --dry-run --json $common" args=job ;;
	tail) opts="-f --follow --stderr $common" args=job ;;
	*) return 0 ;;
	esac
	if [[ $cur == -* ]]; then
		case $cmd in submit | map | apply) opts="$opts --" ;; esac
		_spool_words "$opts" "$cur"
	elif [[ $args == job ]]; then
		_spool_words "$(_spool_jobs "$prog")" "$cur"
	elif [[ $args == cmd ]]; then
		_spool_words "$cmds" "$cur"
	elif [[ $args == dir ]]; then
		_spool_files -d "$cur"
	fi
	return 0
}

# spoold and spool-worker: their options, and directories for -d.
_spool_daemon()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local opts="-d --dir -f --foreground -h --help -V --version"
	COMPREPLY=()
	case $prev in
	-d | --dir) _spool_files -d "$cur"; return 0 ;;
	-n | --engines | --name) return 0 ;;
	esac
	[[ ${COMP_WORDS[0]##*/} == spool-worker ]] && opts="$opts -n --engines --name"
	[[ $cur == -* ]] && _spool_words "$opts" "$cur"
	return 0
}

complete -F _spool spool
complete -F _spool_daemon spoold spool-worker

# bash completion for petrel(1).
#
# The commands, `ca` subcommands and options come from petrel's own
# --help, so that they never drift from the binary; the names of
# unikernels and block devices from the daemon (`petrel info`, `petrel
# block`), through the --tmpdir or --socket given on the command line
# being completed.

# The words of a `Commands:` or `Subcommands:` list: `petrel --help`,
# `petrel ca --help`.
_petrel_commands()
{
	"$@" --help 2>/dev/null |
		sed -n '/^\(Sub\)\{0,1\}[Cc]ommands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

_petrel_options()
{
	# Global options too: `petrel CMD [SUB] --help` lists both.
	"$@" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u
}

# The options that take a value: those --help shows with one (`--mem MB`,
# `--net [NAME:]BRIDGE`, `--remote HOST[:PORT]`).
_petrel_valued()
{
	"$@" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]* [[A-Z]' |
		sed 's/ .*//' | sort -u
}

# --key-type's values, from the text after "keys:" up to the next option.
_petrel_key_types()
{
	"$1" --help 2>/dev/null |
		sed -n '/--key-type/,/^  -/{/--key-type/{s/.*keys://;p;d;};/^  -/!p;}' |
		tr ', ' '\n\n' | grep -E '^[a-z0-9]+$'
}

# Names from the daemon: the `name: ` lines of `petrel info` or
# `petrel block`. Nothing (and no error) when no daemon answers.
_petrel_names()
{
	local prog=$1 what=$2
	shift 2
	timeout 2 "$prog" "$@" "$what" 2>/dev/null | sed -n 's/^name: //p'
}

_petrel()
{
	local cur prev words cword
	_init_completion -n := || return

	# The command (and the `ca` subcommand), the positional arguments
	# after it, and the options that reach the daemon. An option's value
	# is never taken for a positional argument.
	local prog=${words[0]} cmd= sub= i npos=0 conn=() w
	local valued=" $(_petrel_valued "$prog" | tr '\n' ' ') "
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--tmpdir|--socket)
			conn+=("$w" "${words[i + 1]}")
			((i++))
			;;
		--tmpdir=*|--socket=*)
			conn+=("$w")
			;;
		-*)
			[[ $valued == *" $w "* ]] && ((i++))
			;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
				valued=" $(_petrel_valued "$prog" "$cmd" | tr '\n' ' ') "
			elif [[ $cmd == ca && -z $sub ]]; then
				sub=$w
				valued=" $(_petrel_valued "$prog" ca "$sub" | tr '\n' ' ') "
			else
				((npos++))
			fi
			;;
		esac
	done

	case $prev in
	--tmpdir)
		_filedir -d
		return
		;;
	--socket|--data|--ca-cert|--ca|--ca-key|--server-ca|--db|--out|-o)
		_filedir
		return
		;;
	--remote|--destination)
		_known_hosts_real -- "$cur"
		return
		;;
	--key-type)
		COMPREPLY=($(compgen -W "$(_petrel_key_types "$prog")" -- "$cur"))
		return
		;;
	esac
	if [[ $prev == -* && $valued == *" $prev "* ]]; then
		# Values only the operator knows (--mem, --cpu, --days...).
		return
	fi

	local here=("$prog")
	[[ -n $cmd ]] && here+=("$cmd")
	[[ -n $sub ]] && here+=("$sub")
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_petrel_options "${here[@]}")" -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$(_petrel_commands "$prog")" -- "$cur"))
		return
	fi
	if [[ $cmd == ca ]]; then
		if [[ -z $sub ]]; then
			COMPREPLY=($(compgen -W "$(_petrel_commands "$prog" ca)" -- "$cur"))
			return
		fi
		case $sub in
		request)
			# NAME, then the command the certificate carries.
			((npos == 1)) && COMPREPLY=($(compgen -W \
			    "$(_petrel_commands "$prog" | grep -vx ca)" -- "$cur"))
			;;
		sign)
			((npos == 0)) && _filedir req
			;;
		revoke)
			((npos == 0 || npos == 1)) && _filedir
			;;
		esac
		return
	fi

	case $cmd in
	destroy|restart|info|get|console|log)
		if ((npos == 0)); then
			COMPREPLY=($(compgen -W "$(_petrel_names "$prog" info "${conn[@]}")" -- "$cur"))
			__ltrim_colon_completions "$cur"
		elif [[ $cmd == get ]]; then
			_filedir
		fi
		;;
	destroy-block|block|set-block|dump-block)
		if ((npos == 0)); then
			COMPREPLY=($(compgen -W "$(_petrel_names "$prog" block "${conn[@]}")" -- "$cur"))
			__ltrim_colon_completions "$cur"
		else
			_filedir
		fi
		;;
	create)
		((npos == 1)) && _filedir
		;;
	esac
}
complete -F _petrel petrel

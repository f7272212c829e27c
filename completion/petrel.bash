# bash completion for petrel(1).
#
# The commands and options come from petrel's own --help, so that they
# never drift from the binary; the names of unikernels and block devices
# from the daemon (`petrel info`, `petrel block`), through the --tmpdir or
# --socket given on the command line being completed.

_petrel_commands()
{
	"$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

_petrel_options()
{
	# Global options too: `petrel CMD --help` lists both.
	"$1" ${2:+"$2"} --help 2>/dev/null |
		grep -o -- '--[a-z][a-z-]*' | sort -u
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

	local prog=${words[0]} cmd= i conn=()
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--tmpdir|--socket)
			conn+=("${words[i]}" "${words[i + 1]}")
			((i++))
			;;
		--tmpdir=*|--socket=*)
			conn+=("${words[i]}")
			;;
		-*) ;;
		*)
			[[ -z $cmd ]] && cmd=${words[i]}
			;;
		esac
	done

	case $prev in
	--tmpdir)
		_filedir -d
		return
		;;
	--socket|--data)
		_filedir
		return
		;;
	--mem|--cpu|--unikernels|--block|--bridge|--count|--since|--startup|--exit-code|--arg|--net)
		# Values only the operator knows.
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_petrel_options "$prog" "$cmd")" -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$(_petrel_commands "$prog")" -- "$cur"))
		return
	fi

	# The first positional argument after the command.
	local npos=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--tmpdir|--socket|--mem|--cpu|--unikernels|--block|--bridge|--count|--since|--startup|--exit-code|--arg|--net|--data)
			((i++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done
	case $cmd in
	destroy|restart|info|get|console|log)
		if ((npos == 1)); then
			COMPREPLY=($(compgen -W "$(_petrel_names "$prog" info "${conn[@]}")" -- "$cur"))
			__ltrim_colon_completions "$cur"
		elif [[ $cmd == create || $cmd == get ]]; then
			_filedir
		fi
		;;
	destroy-block|block|set-block|dump-block)
		if ((npos == 1)); then
			COMPREPLY=($(compgen -W "$(_petrel_names "$prog" block "${conn[@]}")" -- "$cur"))
			__ltrim_colon_completions "$cur"
		else
			_filedir
		fi
		;;
	create)
		((npos == 2)) && _filedir
		;;
	esac
}
complete -F _petrel petrel

# bash completion for ckptdb: commands, flags, and the tags, steps, ids and metric names of the store
# named on the line. The answers come from `ckptdb __complete INDEX WORD...`, so they follow the
# installed tool's own flags; where it has nothing to offer (a file, a directory) bash completes
# file names. Installed as share/bash-completion/completions/ckptdb.
_ckptdb() {
  # Split the line ourselves: bash's COMP_WORDS breaks "tag:best" and "loss:min" at the colons.
  local line=${COMP_LINE:0:COMP_POINT}
  local -a words
  read -ra words <<<"$line"
  [[ $line == *[[:space:]] ]] && words+=("")
  ((${#words[@]} >= 2)) || return 0
  local cur=${words[${#words[@]}-1]}
  local candidates
  candidates=$("${words[0]}" __complete "$((${#words[@]} - 2))" "${words[@]:1}" 2>/dev/null) || return 0
  [[ -n $candidates ]] || return 0
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  # bash replaces only the text after the last ':' (a word break), so drop what is already typed.
  if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local prefix=${cur%"${cur##*:}"} i
    for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}; done
  fi
}
complete -o bashdefault -o default -F _ckptdb ckptdb

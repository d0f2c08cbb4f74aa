package command

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Shell completion works by asking drover itself: the scripts run the
// command line typed so far with --generate-bash-completion, which lists
// the subcommands and flags that can follow (urfave/cli), so the scripts
// never go stale.

const bashCompletion = `# drover completion for bash: source <(drover completion bash)
_drover_complete() {
	local cur="${COMP_WORDS[COMP_CWORD]}"
	local -a line=("${COMP_WORDS[@]:0:COMP_CWORD}")
	local candidates
	if [[ "$cur" == -* ]]; then
		candidates=$("${line[@]}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		candidates=$("${line[@]}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o bashdefault -o default -F _drover_complete drover
`

const zshCompletion = `#compdef drover
# drover completion for zsh: source <(drover completion zsh), or save as _drover in $fpath
_drover() {
	local -a candidates
	local cur="${words[CURRENT]}"
	if [[ "$cur" == -* ]]; then
		candidates=("${(@f)$(${words[1,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
	else
		candidates=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
	fi
	compadd -- ${candidates[@]}
	_files
}
compdef _drover drover
`

func completionCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash: source <(drover completion bash)   (or save it in /etc/bash_completion.d/drover)\n" +
			"zsh:  source <(drover completion zsh)    (or save it as _drover in a directory of $fpath)\n" +
			"fish: drover completion fish > ~/.config/fish/completions/drover.fish",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(stdio.Stdout, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(stdio.Stdout, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(stdio.Stdout, script)
				return err
			}
			return fmt.Errorf("usage: drover completion bash|zsh|fish")
		},
	}
}

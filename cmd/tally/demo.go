package main

import "github.com/spf13/cobra"

func (e *env) demoCommand() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Run a simulated fleet day on this machine"}
}

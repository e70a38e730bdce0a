//go:build !slim

package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/webhook"
)

func injectCommand() *cobra.Command {
	var (
		files     []string
		recursive bool
		diff      bool
	)
	cmd := &cobra.Command{
		Use:   "inject -f FILE|DIR|- [-f …] [-R] [--diff]",
		Short: "Print Kubernetes manifests as the webhook would mutate them",
		Long: `Print Kubernetes manifests (Pods, and the pod templates of Deployments,
StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs and
CronJobs, also inside a List such as kubectl get -o yaml prints) as the loglet
webhook would mutate them: the preview to run before trusting the webhook.
Pods opt in with the loglet.io/inject: "true" annotation, or when a LogConfig
or ClusterLogConfig in the input selects them; a Namespace in the input opts
its pods in with the label loglet.io/inject=enabled, as in the cluster.

LogConfig and ClusterLogConfig documents (loglet.io/v1alpha1, also inside a
List) apply to the pods of the whole input, whichever file holds them, and are
printed as written. One the validating webhook would refuse exits non-zero
with its message. A ClusterLogConfig with a namespaceSelector applies to the
pods of a namespace only when the input holds that Namespace (its labels are
not known offline otherwise; inject warns).

-f takes files, folders (their .yaml, .yml and .json files; -R also those of
their subfolders) and - for standard input, and may be repeated, as with
kubectl. A document inject does not change is printed byte for byte as it was
read; in one it changes, what the webhook's patch does not touch stays as
written (comments, unknown fields), with the indentation made uniform.
--diff prints a unified diff of each object injection changes instead.

The sidecar gets its configuration as one document in LOGLET_CONFIG, checked
as the webhook checks it: with the agent's own loader. Invalid annotations, and
ones the sidecar could not start with (loglet.io/format: csv without
loglet.io/csv-fields), exit non-zero with the webhook's message; the webhook's
warnings go to standard error. It takes the webhook's settings (--config,
--image, --sink, --agent-setting, …), so it previews exactly what that webhook
does; without them, what the chart of this version installs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("give the manifests with -f FILE, -f DIR or -f - for standard input")
			}
			srcs, err := readSources(files, recursive, cmd.InOrStdin())
			if err != nil {
				return err
			}
			// The webhook's own settings: the same --config file gives the
			// same pods. Offline, native-sidecar auto means native.
			opts, err := webhook.LoadServerOptions(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			opts.Config.NativeSidecar = opts.NativeSidecar != "never"
			p := webhook.Preview{Config: opts.Config, Warn: cmd.ErrOrStderr(), Diff: diff}
			return p.Write(cmd.OutOrStdout(), srcs...)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifests to read: files, folders, or - for standard input (repeatable, or comma separated, as with kubectl)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "also read the folders of -f folders, recursively")
	cmd.Flags().BoolVar(&diff, "diff", false, "print a unified diff of each object injection changes instead of the manifests")
	webhook.InjectFlags(cmd.Flags())
	return cmd
}

// manifestExts are the file names a folder given to -f is read for, as
// kubectl reads them.
var manifestExts = []string{".json", ".yaml", ".yml"}

// readSources reads what -f names, in order: files as named, folders'
// manifest files in lexical order, - once from stdin.
func readSources(names []string, recursive bool, stdin io.Reader) ([]webhook.Source, error) {
	var srcs []webhook.Source
	readStdin := false
	for _, name := range names {
		if name == "-" {
			if readStdin {
				return nil, fmt.Errorf("-f -: standard input can be read once")
			}
			readStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			srcs = append(srcs, webhook.Source{Name: "-", Data: data})
			continue
		}
		info, err := os.Stat(name)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", name, err)
		}
		if !info.IsDir() {
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("-f %s: %w", name, err)
			}
			srcs = append(srcs, webhook.Source{Name: name, Data: data})
			continue
		}
		found := 0
		err = filepath.WalkDir(name, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != name && !recursive:
				return filepath.SkipDir
			case d.IsDir() || !slices.Contains(manifestExts, strings.ToLower(filepath.Ext(path))):
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			found++
			srcs = append(srcs, webhook.Source{Name: path, Data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", name, err)
		}
		if found == 0 {
			hint := ""
			if !recursive {
				hint = " (-R reads subfolders too)"
			}
			return nil, fmt.Errorf("-f %s: no %s files in the folder%s", name, strings.Join(manifestExts, ", "), hint)
		}
	}
	return srcs, nil
}

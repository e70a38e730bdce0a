// Command chart renders, lints and packages charts/loglet without a Helm
// binary (make manifests, make chart).
//
//	go run ./hack/chart manifests           # write manifests/*.yaml
//	go run ./hack/chart lint
//	go run ./hack/chart template [key=value ...]
//	go run ./hack/chart package DIR
package main

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/loglet/loglet/charts"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want manifests, lint, template or package")
	}
	switch args[0] {
	case "manifests":
		for _, m := range charts.Manifests() {
			if err := m.Write(); err != nil {
				return err
			}
			fmt.Println("wrote", m.Path)
		}
		return nil
	case "lint":
		if err := charts.Lint(charts.Dir(), args[1:]...); err != nil {
			return err
		}
		fmt.Println("chart lints clean")
		return nil
	case "template":
		r, err := charts.Render(charts.Dir(), charts.ReleaseName, charts.ReleaseNamespace, args[1:]...)
		if err != nil {
			return err
		}
		fmt.Print(r.Manifests)
		return nil
	case "package":
		if len(args) != 2 {
			return fmt.Errorf("package DIR")
		}
		ch, err := loader.Load(charts.Dir())
		if err != nil {
			return err
		}
		path, err := chartutil.Save(ch, args[1])
		if err != nil {
			return err
		}
		fmt.Println("packaged", path)
		return nil
	}
	return fmt.Errorf("unknown command %q: want manifests, lint, template or package", args[0])
}

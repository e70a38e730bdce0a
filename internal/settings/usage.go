package settings

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// FlagUsages lists the flags of fs for help as a user writes them, which
// pflag's own listing does not: a boolean as --once (pflag adds
// [=true|false], though --once=false is rarely what anyone types), and a
// size's default with its unit (512KiB, not 524288).
func FlagUsages(fs *pflag.FlagSet) string {
	type line struct{ head, usage string }
	var lines []line
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		head := "      --" + f.Name
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			head = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" {
			head += " " + varname
		}
		if f.NoOptDefVal != "" && !(f.Value.Type() == "bool" && f.NoOptDefVal == "true") {
			head += fmt.Sprintf("[=%q]", f.NoOptDefVal)
		}
		if def, zero := helpDefault(f); !zero {
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", def)
			} else {
				usage += " (default " + def + ")"
			}
		}
		if f.Deprecated != "" {
			usage += " (DEPRECATED: " + f.Deprecated + ")"
		}
		width = max(width, len(head))
		lines = append(lines, line{head, usage})
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s   %s\n", width, l.head, strings.ReplaceAll(l.usage, "\n", "\n"+strings.Repeat(" ", width+3)))
	}
	return b.String()
}

// helpDefault is the default of f as help shows it, and whether it is
// the type's zero value (not shown). A flag whose name ends in "bytes"
// is a size (Reader.Bytes reads it; the settings are named so): a plain
// number of bytes is shown with its unit.
func helpDefault(f *pflag.Flag) (string, bool) {
	def := f.DefValue
	if strings.HasSuffix(f.Name, "bytes") {
		if n, err := strconv.ParseInt(def, 10, 64); err == nil && n > 0 {
			def = FormatBytes(n)
		}
	}
	switch f.Value.Type() {
	case "bool":
		return def, def == "false"
	case "string":
		return def, def == ""
	case "duration":
		return def, def == "0" || def == "0s"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64", "count":
		return def, def == "0"
	}
	return def, def == "" || def == "[]" || def == "map[]" || def == "<nil>"
}

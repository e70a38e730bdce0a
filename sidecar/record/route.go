package record

import "strings"

// MaxRoute is the longest route.
const MaxRoute = 64

// ValidRoute tells whether r can name a route: 1 to 64 letters, digits,
// '-' or '_' — a valid Kafka topic and JetStream subject token alike.
func ValidRoute(r string) bool {
	if r == "" || len(r) > MaxRoute {
		return false
	}
	return strings.IndexFunc(r, func(c rune) bool { return !routeChar(c) }) < 0
}

// RouteFrom makes a route of any value (a pod label's): characters a
// route cannot hold become '_', and it is cut to MaxRoute.
func RouteFrom(v string) string {
	b := []byte(v[:min(len(v), MaxRoute)])
	for i, c := range b {
		if !routeChar(rune(c)) {
			b[i] = '_'
		}
	}
	return string(b)
}

func routeChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

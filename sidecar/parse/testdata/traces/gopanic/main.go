// Command gopanic prints an ordinary line and dies in a panic raised while
// recovering another, with a second goroutine (GOTRACEBACK=all prints
// both).
package main

import (
	"fmt"
	"sync"
)

type T struct{}

func (t *T) run(ch chan int) { <-ch }

func main() {
	fmt.Println("2026-12-01T10:00:00Z INFO starting")
	var wg sync.WaitGroup
	ch := make(chan int)
	wg.Add(1)
	go func() { defer wg.Done(); (&T{}).run(ch) }()
	defer func() {
		r := recover()
		panic(fmt.Sprintf("again: %v", r))
	}()
	var m map[string]int
	m["x"] = 1
}

package auth

import (
	"net/http"
	"slices"
	"testing"
)

func TestPatternsListsEveryRegisteredPattern(t *testing.T) {
	mux := http.NewServeMux()
	want := []string{"/", "/api/", "GET /a/{id}", "GET /a/{id}/b", "POST /a", "GET /x/{rest...}", "/c/", "GET /{$}"}
	for _, p := range want {
		mux.Handle(p, http.NotFoundHandler())
	}
	got, err := Patterns(mux)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Patterns = %q, want %q", got, want)
	}
}

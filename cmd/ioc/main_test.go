package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    []string
		wantStderr []string
	}{
		{name: "version", args: []string{"version"}, code: 0, wantOut: []string{"ioc dev"}},
		{name: "no command", args: nil, code: 2, wantStderr: []string{"usage:"}},
		{name: "unknown command", args: []string{"fly"}, code: 2, wantStderr: []string{`unknown command "fly"`}},
		{name: "config check good", args: []string{"config", "check", "../../configs/ioc.example.yaml"}, code: 0, wantOut: []string{": ok"}},
		{name: "config check lists every problem", args: []string{"config", "check", "../../internal/config/testdata/many.bad.yaml"}, code: 1,
			wantStderr: []string{"log.level", "http.addr", "collectors[0] (river).qos", "collectors[1] (river).type", "pipeline.on_full"}},
		{name: "config check unknown key", args: []string{"config", "check", "../../internal/config/testdata/typo.bad.yaml"}, code: 1,
			wantStderr: []string{"adress"}},
		{name: "config check missing file", args: []string{"config", "check", "nope.yaml"}, code: 1, wantStderr: []string{"nope.yaml"}},
		{name: "serve refuses a bad config", args: []string{"serve", "--config", "../../internal/config/testdata/many.bad.yaml"}, code: 1,
			wantStderr: []string{"invalid configuration", "collectors[0] (river).ack"}},
		{name: "pprof only on loopback", args: []string{"serve", "--pprof", "0.0.0.0:6060"}, code: 1,
			wantStderr: []string{"only a loopback address"}},
		{name: "simulate needs devices", args: []string{"simulate", "--devices", "0"}, code: 2, wantStderr: []string{"--devices"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q lacks %q", out.String(), w)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr %q lacks %q", errb.String(), w)
				}
			}
		})
	}
}

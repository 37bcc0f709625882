package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ioc-vn/ioc/internal/app"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/config"
)

func TestUserAddAndPasswd(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(cfgPath, []byte("store:\n  path: "+filepath.Join(dir, "ioc.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user := func(stdin string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := userCmd(args, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := user("mật-khẩu-trực-ban\n", "add", "--config", cfgPath, "--role", "operator", "--areas", "83-829,83-831", "op.lan"); code != 0 {
		t.Fatalf("user add: %d %s", code, out)
	}
	if code, out := user("ngắn\n", "add", "--config", cfgPath, "--role", "leader", "lead.hoa"); code != 1 || !strings.Contains(out, "password") {
		t.Errorf("short password: %d %s", code, out)
	}
	if code, out := user("mật-khẩu-trực-ban\n", "add", "--config", cfgPath, "--role", "boss", "x1"); code != 1 || !strings.Contains(out, "role") {
		t.Errorf("bad role: %d %s", code, out)
	}
	if code, out := user("mật-khẩu-mới-2026\n", "passwd", "--config", cfgPath, "op.lan"); code != 0 {
		t.Fatalf("user passwd: %d %s", code, out)
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.OpenAuth(context.Background(), cfg, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Store().Close()
	if _, p, err := svc.Login(context.Background(), "op.lan", "mật-khẩu-mới-2026", "127.0.0.1"); err != nil || p.Role != auth.RoleOperator || len(p.Areas) != 2 {
		t.Errorf("login with the new password: %+v, %v", p, err)
	}
	if _, _, err := svc.Login(context.Background(), "op.lan", "mật-khẩu-trực-ban", "127.0.0.1"); err == nil {
		t.Error("the old password still works")
	}
	if _, err := os.Stat(filepath.Join(dir, "auth.db")); err != nil {
		t.Errorf("account store not beside the embedded store: %v", err)
	}
}

// Command ioc runs the Intelligent Operations Center backend.
//
//	ioc serve [--config FILE] [--demo]   run everything (embedded defaults without a file)
//	ioc config check FILE                 list every problem of a config file; exit 1 if any
//	ioc simulate --broker URL             publish the Tỉnh Vĩnh Long demo feed to an MQTT broker
//	ioc user add|passwd [--config FILE] …  manage accounts (password on standard input)
//	ioc version                           print the version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/app"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/simulate"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	restrictUmask()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: ioc config check FILE")
			return 2
		}
		return configCheck(args[2], stdout, stderr)
	case "simulate":
		return simulateCmd(args[1:], stderr)
	case "user":
		return userCmd(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "ioc", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "ioc: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `ioc — Trung tâm điều hành thông minh / Intelligent Operations Center

usage:
  ioc serve [--config FILE] [--demo]   run everything (embedded defaults without a file)
  ioc config check FILE                 list every problem of a config file
  ioc simulate --broker URL             publish the Tỉnh Vĩnh Long demo feed to an MQTT broker
  ioc user add [--config FILE] --role admin|operator|leader|unit [--areas A,B] [--unit U] NAME
  ioc user passwd [--config FILE] NAME  (the password is the first line of standard input)
  ioc version
`)
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	lvl := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.Level]
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: embedded defaults)")
	demo := fs.Bool("demo", false, "also run the built-in Tỉnh Vĩnh Long demo feed")
	admin := fs.String("admin", "configs/admin/86-2025.geojson", "province boundaries used by the demo feed (its finest level places the devices)")
	pprofAddr := fs.String("pprof", "", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, stderr); err != nil {
			fmt.Fprintln(stderr, "ioc:", err)
			return 1
		}
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	if *demo {
		cfg.Demo.Enabled = true
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "ioc: invalid configuration:\n%s\n", indent(err))
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(ctx, cfg, log, app.Options{Web: dashboard.Web(), AdminFile: *admin})
	if err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	go reloadOnHangup(ctx, a, log)
	mqtt := "external brokers only"
	if a.Broker != nil {
		mqtt = a.Broker.URL()
	}
	fmt.Fprintf(stdout, "ioc %s is live: %s  (MQTT: %s, started %s)\n", version, a.URL(), mqtt,
		time.Now().In(dashboard.VietnamTime).Format(time.RFC3339))
	if a.AdminPasswordFile != "" {
		fmt.Fprintf(stdout, "Tài khoản quản trị đầu tiên / first admin account: %q, mật khẩu trong / password in %s\n",
			cfg.Admin.User, a.AdminPasswordFile)
	}
	if err := a.Wait(); err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	return 0
}

// reloadOnHangup re-reads the admin areas on SIGHUP until ctx ends; connections stay up and a bad
// file leaves the areas in use.
func reloadOnHangup(ctx context.Context, a *app.App, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := a.ReloadAreas(); err != nil {
				log.Error("reload on SIGHUP failed; the previous admin areas stay in use", "error", err)
			}
		}
	}
}

func configCheck(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%s\n", path, indent(err))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

func simulateCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := config.Default().Demo
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	devices := fs.Int("devices", def.Devices, "number of devices")
	interval := fs.Duration("interval", def.Interval, "time between two readings of one device")
	seed := fs.Int64("seed", def.Seed, "random seed for device placement")
	admin := fs.String("admin", "configs/admin/86-2025.geojson", "province boundaries to place devices in (its finest level)")
	clientID := fs.String("client-id", "ioc-simulate", "MQTT client id")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *devices < 1 || *interval <= 0 {
		fmt.Fprintln(stderr, "ioc simulate: --devices must be ≥ 1 and --interval positive")
		return 2
	}
	log := newLogger(config.Log{Level: "info", Format: "text"}, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := simulate.Run(ctx, simulate.Config{Broker: *broker, ClientID: *clientID, Devices: *devices, Interval: *interval,
		Seed: *seed, AdminFile: *admin}, log)
	if err != nil {
		fmt.Fprintln(stderr, "ioc simulate:", err)
		return 1
	}
	return 0
}

func indent(err error) string {
	return "  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
}

// userCmd adds an account or sets its password in the configured account store. The password is the
// first line of in, so it never appears in the process list or the shell history.
func userCmd(args []string, in io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "add" && args[0] != "passwd") {
		fmt.Fprintln(stderr, "usage: ioc user add|passwd [--config FILE] [--role R --areas A,B --unit U --display NAME] NAME")
		return 2
	}
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file (default: embedded defaults)")
	role := fs.String("role", "operator", "admin, operator, leader or unit")
	areas := fs.String("areas", "", "operator: comma-separated area codes the account is limited to")
	unit := fs.String("unit", "", "unit staff: their unit code")
	display := fs.String("display", "", "display name")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "ioc user: give exactly one user name")
		return 2
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "ioc user: read password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	ctx := context.Background()
	svc, err := app.OpenAuth(ctx, cfg, auth.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "ioc:", err)
		return 1
	}
	defer svc.Store().Close()
	name := fs.Arg(0)
	if args[0] == "passwd" {
		err = svc.SetPassword(ctx, name, password)
	} else {
		u := auth.User{Name: name, DisplayName: *display, Role: auth.Role(*role), Unit: *unit}
		if *areas != "" {
			u.Areas = strings.Split(*areas, ",")
		}
		err = svc.AddUser(ctx, u, password)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ioc user:", err)
		return 1
	}
	fmt.Fprintf(stdout, "ioc user %s: %s ok\n", args[0], name)
	return 0
}

// servePprof serves the Go profiles on addr, which must be a loopback address: profiles reveal memory
// contents and must never be reachable from the network.
func servePprof(addr string, stderr io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof %q: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Loopback only, so no per-address cap; but bounded in time and count all the same. A CPU
	// profile or trace takes ?seconds= (30 by default) to write.
	lim := httpapi.DefaultServerLimits()
	lim.WriteTimeout, lim.MaxConns, lim.FDReserve, lim.ReservedConns = 2*time.Minute, 16, 0, 0
	ln = httpapi.LimitListener(ln, lim, lim.MaxConns, nil)
	go func() {
		srv := httpapi.NewServer(mux, lim, slog.New(slog.NewTextHandler(stderr, nil)))
		if err := srv.Serve(ln); err != nil {
			fmt.Fprintln(stderr, "ioc: pprof:", err)
		}
	}()
	return nil
}

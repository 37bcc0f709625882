package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/stream"
)

// indicatorsDBPath is the indicator value database: the configured path, or indicators.db beside the
// embedded store.
func indicatorsDBPath(cfg config.Config, configured string) string {
	if configured != "" {
		return configured
	}
	return filepath.Join(filepath.Dir(cfg.Store.Path), "indicators.db")
}

// startIndicators reads the indicator definitions (inline and indicators.file), opens the value
// store (indicators.db beside ioc's store unless configured) and builds the indicator service over
// the report service, the alarm store, the reading store in use and the registry.
func (a *App) startIndicators(ctx context.Context, reg prometheus.Registerer, checks map[string]stream.Checker) error {
	ic, err := a.cfg.Indicators.LoadFile()
	if err != nil {
		return err
	}
	if err := ic.Validate("indicators"); err != nil {
		return fmt.Errorf("invalid indicators:\n%w", err)
	}
	if ic.Store.Driver != "postgres" {
		ic.Store.Path = indicatorsDBPath(a.cfg, ic.Store.Path)
	}
	st, err := indicator.OpenStore(ctx, ic.Store)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, st.Close)
	checks["indicators"] = st
	var readings stream.ReadingStore = a.Store
	if a.Influx != nil {
		readings = a.Influx
	}
	boundary, err := boundarySet(a.cfg.Geo.AdminFiles)
	if err != nil {
		return err
	}
	src := indicator.Sources{Reports: a.Reports, Alarms: a.alarmStore, Readings: readings,
		Devices:  func() []registry.Entity { return a.Registry.List(stream.TypeTelemetry) },
		Areas:    func() *geo.Areas { return a.Geo.Areas() },
		Boundary: boundary, Location: dashboard.VietnamTime}
	a.Indicators = indicator.NewService(ic, src, st, indicator.Options{Log: a.log.With("component", "indicator"), Registerer: reg})
	return nil
}

// boundarySet names the admin boundary files in use by base name and a short hash of their content,
// for the lineage of indicator values ("83.geojson@sha256:1a2b3c4d5e6f").
func boundarySet(files []string) (string, error) {
	names := make([]string, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("geo.admin_files: %w", err)
		}
		sum := sha256.Sum256(raw)
		names = append(names, filepath.Base(f)+"@sha256:"+hex.EncodeToString(sum[:6]))
	}
	return strings.Join(names, ","), nil
}

// startBriefings builds the scheduled reports over the indicator service: archive and outbox
// beside the store unless configured, SMTP when briefings.smtp.host is set.
func (a *App) startBriefings(reg prometheus.Registerer) error {
	bc := a.cfg.Briefings
	if err := bc.Validate("briefings", func(code string) bool { _, ok := a.Indicators.Definition(code); return ok }); err != nil {
		return fmt.Errorf("invalid briefings:\n%w", err)
	}
	dir := filepath.Dir(a.cfg.Store.Path)
	if bc.Archive == "" {
		bc.Archive = filepath.Join(dir, "briefings")
	}
	if bc.Outbox == "" {
		bc.Outbox = filepath.Join(dir, "outbox")
	}
	var sender briefing.Sender = briefing.Outbox{Dir: bc.Outbox}
	if bc.SMTP.Host != "" {
		s, err := briefing.NewSMTPSender(bc.SMTP)
		if err != nil {
			return err
		}
		sender = s
	}
	a.Briefings = briefing.New(bc, briefing.Deps{Indicators: a.Indicators, Areas: a.Geo.Areas, Sender: sender,
		Location: dashboard.VietnamTime, Log: a.log.With("component", "briefing"), Registerer: reg})
	return nil
}

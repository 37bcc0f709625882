package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/registry"
)

// loadSets reads the configured boundary sets and crosswalks.
func (a *App) loadSets() (*geo.Sets, error) {
	key := "geo.boundary_sets"
	if len(a.cfg.Geo.AdminFiles) > 0 {
		key = "geo.admin_files"
	}
	sets, err := geo.LoadSets(a.cfg.Geo.Specs(), geo.LoadOptions{OverlapTolerance: a.cfg.Geo.OverlapTolerance})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return sets, nil
}

// startGeo loads the boundary sets and builds the enrichment stage and the geofence detector.
func (a *App) startGeo(reg prometheus.Registerer) error {
	sets, err := a.loadSets()
	if err != nil {
		return err
	}
	a.Geo = geo.NewEnricher(sets, reg)
	fences := make([]geo.Fence, len(a.cfg.Geo.Geofences))
	for i, f := range a.cfg.Geo.Geofences {
		fences[i] = f.Fence()
	}
	if a.Fences, err = geo.NewFences(fences, a.cfg.Geo.FenceQueue, reg); err != nil {
		return fmt.Errorf("geo.geofences: %w", err)
	}
	return nil
}

// ReloadAreas re-reads the boundary sets and crosswalks and puts them in use, then re-enriches the live
// entities (their latest state gets the codes of the set in force at its time). Connections and events
// in flight are untouched; on error the sets in use stay.
func (a *App) ReloadAreas() error {
	sets, err := a.loadSets()
	if err != nil {
		return err
	}
	a.Geo.Swap(sets)
	changed := a.Registry.Relabel(func(e registry.Entity) map[string]string {
		return a.Geo.CodesAt(e.Time, e.Location)
	})
	cur := sets.Current()
	a.log.Info("admin areas reloaded", "component", "geo", "sets", len(sets.List()), "current", cur.Name,
		"areas", cur.Areas.Len(), "levels", cur.Areas.Levels(), "entities_relabelled", changed)
	return nil
}

func (a *App) geoDeps() *dashboard.GeoDeps {
	return &dashboard.GeoDeps{Areas: a.Geo.Areas, Reload: a.ReloadAreas, Fences: a.Fences}
}

// lowestLevel is the lowest level of the boundaries in use (the KPI screen groups by it).
func (a *App) lowestLevel() string {
	levels := a.Geo.Areas().Levels()
	if len(levels) == 0 {
		return ""
	}
	return levels[len(levels)-1]
}

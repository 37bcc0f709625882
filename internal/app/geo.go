package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/geo"
)

// startGeo loads the admin areas and builds the enrichment stage and the geofence detector.
func (a *App) startGeo(reg prometheus.Registerer) error {
	areas, err := geo.Load(a.cfg.Geo.AdminFiles...)
	if err != nil {
		return fmt.Errorf("geo.admin_files: %w", err)
	}
	a.Geo = geo.NewEnricher(areas, reg)
	fences := make([]geo.Fence, len(a.cfg.Geo.Geofences))
	for i, f := range a.cfg.Geo.Geofences {
		fences[i] = f.Fence()
	}
	if a.Fences, err = geo.NewFences(fences, a.cfg.Geo.FenceQueue, reg); err != nil {
		return fmt.Errorf("geo.geofences: %w", err)
	}
	return nil
}

// ReloadAreas re-reads the admin area files and puts them in use. Connections and events in flight
// are untouched; on error the areas in use stay.
func (a *App) ReloadAreas() error {
	areas, err := geo.Load(a.cfg.Geo.AdminFiles...)
	if err != nil {
		return fmt.Errorf("geo.admin_files: %w", err)
	}
	a.Geo.Swap(areas)
	a.log.Info("admin areas reloaded", "component", "geo", "areas", areas.Len(), "levels", areas.Levels())
	return nil
}

func (a *App) geoDeps() *dashboard.GeoDeps {
	return &dashboard.GeoDeps{Areas: a.Geo.Areas, Reload: a.ReloadAreas, Fences: a.Fences}
}

package indicator

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// Export is the JSON document of GET /api/v1/indicators/values?format=json, the shape sent upward
// (docs/INDICATORS.md): the definitions of the indicators present and their values.
type Export struct {
	Schema      string       `json:"schema"` // "ioc.indicators/v1"
	Generated   time.Time    `json:"generated"`
	Definitions []Definition `json:"definitions"`
	Values      []Value      `json:"values"`
}

// ExportSchema names the JSON export's version.
const ExportSchema = "ioc.indicators/v1"

// Columns of the CSV and XLSX exports, Vietnamese first.
var columns = []string{"Mã chỉ tiêu / indicator", "Tên chỉ tiêu", "Indicator name", "Đơn vị / unit", "Mã vùng / area",
	"Tên vùng / area name", "Cấp / level", "Kỳ / period", "Mã kỳ / period key", "Từ / start", "Đến / end",
	"Giá trị / value", "Chỉ tiêu giao / target", "Đánh giá / status", "Tính lúc / computed at"}

func fnum(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// WriteCSV writes values one per row, with the columns of the XLSX export; times are RFC 3339.
func WriteCSV(w io.Writer, defs map[string]Definition, vs []Value) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return fmt.Errorf("indicator csv: %w", err)
	}
	for _, v := range vs {
		d := defs[v.Indicator]
		if err := cw.Write([]string{v.Indicator, d.NameVI, d.NameEN, d.Unit, v.Area, v.AreaName, v.Level, v.Period, v.Key,
			v.Start.Format(time.RFC3339), v.End.Format(time.RFC3339), fnum(v.Value), fnum(v.Target), v.Status,
			v.Lineage.ComputedAt.Format(time.RFC3339)}); err != nil {
			return fmt.Errorf("indicator csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("indicator csv: %w", err)
	}
	return nil
}

// ValuesSheet is the name of the values sheet of the XLSX export.
const ValuesSheet = "Chỉ tiêu"

// AddValuesSheet writes values into a sheet of f named name: numbers as numbers, period bounds as
// dates, computed_at as a date and time (Excel has no time zones: the clock is Asia/Ho_Chi_Minh).
func AddValuesSheet(f *excelize.File, name string, defs map[string]Definition, vs []Value) error {
	if _, err := f.NewSheet(name); err != nil {
		return fmt.Errorf("xlsx sheet %s: %w", name, err)
	}
	dateFmt := "yyyy-mm-dd"
	stampFmt := "yyyy-mm-dd hh:mm:ss"
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		return fmt.Errorf("xlsx style: %w", err)
	}
	stamp, err := f.NewStyle(&excelize.Style{CustomNumFmt: &stampFmt})
	if err != nil {
		return fmt.Errorf("xlsx style: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("xlsx style: %w", err)
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("xlsx sheet %s: %w", name, err)
	}
	head := make([]any, len(columns))
	for i, c := range columns {
		head[i] = excelize.Cell{StyleID: bold, Value: c}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return fmt.Errorf("xlsx row: %w", err)
	}
	num := func(v *float64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	local := func(t time.Time) time.Time { // the wall clock as Excel shows it
		y, m, d := t.Date()
		return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
	}
	for i, v := range vs {
		d := defs[v.Indicator]
		cell, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return fmt.Errorf("xlsx cell: %w", err)
		}
		if err := sw.SetRow(cell, []any{v.Indicator, d.NameVI, d.NameEN, d.Unit, v.Area, v.AreaName, v.Level, v.Period, v.Key,
			excelize.Cell{StyleID: date, Value: local(v.Start)}, excelize.Cell{StyleID: date, Value: local(v.End)},
			num(v.Value), num(v.Target), v.Status,
			excelize.Cell{StyleID: stamp, Value: local(v.Lineage.ComputedAt)}}); err != nil {
			return fmt.Errorf("xlsx row: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("xlsx sheet %s: %w", name, err)
	}
	return nil
}

// WriteXLSX writes values as a workbook with one sheet.
func WriteXLSX(w io.Writer, defs map[string]Definition, vs []Value) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := AddValuesSheet(f, ValuesSheet, defs, vs); err != nil {
		return err
	}
	if err := f.DeleteSheet("Sheet1"); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

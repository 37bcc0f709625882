package briefing

import (
	_ "embed"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/xuri/excelize/v2"

	"github.com/ioc-vn/ioc/internal/indicator"
)

// DejaVu Sans Condensed (Bitstream Vera licence, fonts/LICENSE): covers Vietnamese, including
// U+1EA0–U+1EF9, which the Go fonts do not.
var (
	//go:embed fonts/DejaVuSansCondensed.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSansCondensed-Bold.ttf
	fontBold []byte
)

// Report is one produced report: the indicator values of an area for a period, and one trend.
type Report struct {
	ID        string                          `json:"id"`
	Schedule  string                          `json:"schedule"`
	Kind      string                          `json:"kind"`
	Area      string                          `json:"area"`
	AreaName  string                          `json:"area_name"`
	Level     string                          `json:"level"`
	Period    string                          `json:"period_key"`
	Start     time.Time                       `json:"start"`
	End       time.Time                       `json:"end"`
	Generated time.Time                       `json:"generated"`
	Rows      []Row                           `json:"-"`
	Trend     Trend                           `json:"-"`
	Files     []string                        `json:"files"`
	Delivery  []Delivery                      `json:"delivery"`
	Defs      map[string]indicator.Definition `json:"-"`
}

// Row is one line of the indicator table: a definition and its value (nil when not computed).
type Row struct {
	Def   indicator.Definition
	Value *indicator.Value
}

// Trend is the history of one indicator for the report's area.
type Trend struct {
	Def    indicator.Definition
	Points []indicator.Value // oldest first, one per period (Value nil when not computed)
}

// Delivery is the outcome of sending a report to its recipients.
type Delivery struct {
	To       []string  `json:"to"`
	Via      string    `json:"via"`    // smtp or outbox
	Status   string    `json:"status"` // queued, sent, failed, dropped
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// Number formats v the Vietnamese way: a decimal comma and dots between thousands.
func Number(v float64, decimals int) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte(',')
		b.WriteString(frac)
	}
	return b.String()
}

func valueText(r Row) string {
	if r.Value == nil || r.Value.Value == nil {
		return "—"
	}
	return Number(*r.Value.Value, r.Def.Decimals)
}

// statusText names a status, Vietnamese first.
func statusText(s string) string {
	switch s {
	case indicator.Green:
		return "Đạt / on track"
	case indicator.Amber:
		return "Cần chú ý / watch"
	case indicator.Red:
		return "Không đạt / off track"
	}
	return ""
}

var statusRGB = map[string][3]int{indicator.Green: {198, 239, 206}, indicator.Amber: {255, 235, 156}, indicator.Red: {255, 199, 206}}

// kindTitle is the report's title by schedule kind.
func kindTitle(kind string) string {
	switch kind {
	case Weekly:
		return "BÁO CÁO TUẦN / WEEKLY REPORT"
	case Monthly:
		return "BÁO CÁO THÁNG / MONTHLY REPORT"
	}
	return "BÁO CÁO NGÀY / DAILY REPORT"
}

// Title is the report's one-line title (also the mail subject).
func (r Report) Title() string {
	return fmt.Sprintf("%s — %s — %s", strings.SplitN(kindTitle(r.Kind), " / ", 2)[0], r.AreaName, r.Period)
}

// RenderPDF writes the report as a one-page (more when the table is long) A4 PDF.
func RenderPDF(w io.Writer, r Report) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreator("ioc", true)
	pdf.SetTitle(r.Title(), true)
	pdf.AddUTF8FontFromBytes("dejavu", "", fontRegular)
	pdf.AddUTF8FontFromBytes("dejavu", "B", fontBold)
	pdf.SetAutoPageBreak(true, 15)
	pdf.AddPage()
	pdf.SetFont("dejavu", "B", 15)
	pdf.CellFormat(0, 8, kindTitle(r.Kind), "", 1, "C", false, 0, "")
	pdf.SetFont("dejavu", "", 11)
	pdf.CellFormat(0, 6, r.AreaName+" ("+r.Area+")", "", 1, "C", false, 0, "")
	loc := r.Start.Location()
	pdf.CellFormat(0, 6, fmt.Sprintf("Kỳ báo cáo / period: %s (%s – %s)", r.Period, r.Start.Format("02/01/2006 15:04"),
		r.End.In(loc).Format("02/01/2006 15:04")), "", 1, "C", false, 0, "")
	pdf.SetFont("dejavu", "", 8)
	pdf.CellFormat(0, 5, "Lập lúc / generated: "+r.Generated.Format(time.RFC3339), "", 1, "C", false, 0, "")
	pdf.Ln(3)

	widths := []float64{78, 20, 24, 22, 36}
	head := []string{"Chỉ tiêu / indicator", "Đơn vị", "Giá trị", "Chỉ tiêu giao", "Đánh giá"}
	pdf.SetFont("dejavu", "B", 9)
	pdf.SetFillColor(31, 78, 121)
	pdf.SetTextColor(255, 255, 255)
	for i, h := range head {
		pdf.CellFormat(widths[i], 8, h, "1", 0, "C", true, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetTextColor(0, 0, 0)
	for _, row := range r.Rows {
		status := ""
		if row.Value != nil {
			status = row.Value.Status
		}
		target := ""
		if row.Def.Target != nil {
			target = Number(*row.Def.Target, row.Def.Decimals)
		}
		pdf.SetFont("dejavu", "", 8.5)
		pdf.CellFormat(widths[0], 9, fit(pdf, row.Def.NameVI, widths[0]-2), "1", 0, "L", false, 0, "")
		pdf.CellFormat(widths[1], 9, row.Def.Unit, "1", 0, "C", false, 0, "")
		rgb, colour := statusRGB[status]
		if colour {
			pdf.SetFillColor(rgb[0], rgb[1], rgb[2])
		}
		pdf.SetFont("dejavu", "B", 9)
		pdf.CellFormat(widths[2], 9, valueText(row), "1", 0, "R", colour, 0, "")
		pdf.SetFont("dejavu", "", 8.5)
		pdf.CellFormat(widths[3], 9, target, "1", 0, "R", false, 0, "")
		pdf.CellFormat(widths[4], 9, statusText(status), "1", 1, "C", colour, 0, "")
	}
	pdf.Ln(6)
	chart(pdf, r.Trend)
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	return nil
}

// fit shortens s with an ellipsis to fit width (mm) in the current font.
func fit(pdf *fpdf.Fpdf, s string, width float64) string {
	if pdf.GetStringWidth(s) <= width {
		return s
	}
	rs := []rune(s)
	for len(rs) > 1 && pdf.GetStringWidth(string(rs)+"…") > width {
		rs = rs[:len(rs)-1]
	}
	return string(rs) + "…"
}

// chart draws the trend as bars with their values and period keys below.
func chart(pdf *fpdf.Fpdf, t Trend) {
	if len(t.Points) == 0 {
		return
	}
	pdf.SetFont("dejavu", "B", 10)
	pdf.CellFormat(0, 7, "Xu hướng / trend: "+t.Def.NameVI+" ("+t.Def.Unit+")", "", 1, "L", false, 0, "")
	x0, y0, width, height := 20.0, pdf.GetY()+2, 170.0, 55.0
	if y0+height+15 > 282 {
		pdf.AddPage()
		y0 = pdf.GetY() + 2
	}
	maxv := 0.0
	for _, p := range t.Points {
		if p.Value != nil && *p.Value > maxv {
			maxv = *p.Value
		}
	}
	if maxv == 0 {
		maxv = 1
	}
	pdf.SetDrawColor(120, 120, 120)
	pdf.SetLineWidth(0.3)
	pdf.Line(x0, y0+height, x0+width, y0+height)
	pdf.Line(x0, y0, x0, y0+height)
	slot := width / float64(len(t.Points))
	pdf.SetFont("dejavu", "", 6.5)
	for i, p := range t.Points {
		x := x0 + float64(i)*slot + slot*0.15
		if p.Value != nil {
			h := height * *p.Value / maxv
			rgb, ok := statusRGB[p.Status]
			if !ok {
				rgb = [3]int{91, 155, 213}
			}
			pdf.SetFillColor(rgb[0], rgb[1], rgb[2])
			pdf.Rect(x, y0+height-h, slot*0.7, h, "FD")
			pdf.SetXY(x-2, y0+height-h-4)
			pdf.CellFormat(slot*0.7+4, 4, Number(*p.Value, t.Def.Decimals), "", 0, "C", false, 0, "")
		}
		pdf.SetXY(x-2, y0+height+1)
		label := p.Key
		if len(label) == len("2006-01-02") {
			label = label[8:] + "/" + label[5:7]
		}
		pdf.CellFormat(slot*0.7+4, 4, label, "", 0, "C", false, 0, "")
	}
	pdf.SetXY(x0, y0+height+7)
}

// TrendSheet is the name of the trend sheet of the XLSX report.
const TrendSheet = "Xu hướng"

// RenderXLSX writes the report as a workbook: the indicator table (sheet "Chỉ tiêu") and the trend
// (sheet "Xu hướng"), numbers as numbers and dates as dates.
func RenderXLSX(w io.Writer, r Report) error {
	var vs, trend []indicator.Value
	for _, row := range r.Rows {
		if row.Value != nil {
			vs = append(vs, *row.Value)
		}
	}
	for _, p := range r.Trend.Points {
		if p.Value != nil {
			trend = append(trend, p)
		}
	}
	f := excelize.NewFile()
	defer f.Close()
	if err := indicator.AddValuesSheet(f, indicator.ValuesSheet, r.Defs, vs); err != nil {
		return err
	}
	if err := indicator.AddValuesSheet(f, TrendSheet, r.Defs, trend); err != nil {
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

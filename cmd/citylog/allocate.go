package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/spf13/cobra"
)

func allocateCmd(e *env) *cobra.Command {
	var dir string
	var req entry.Request
	var lat, lon float64
	var asJSON bool
	var receipt string
	cmd := &cobra.Command{
		Use:   "allocate --dir DIR --country CC --subdivision SSS --name NAME --id SCHEME:VALUE...",
		Short: "Allocate the code of one city (or return the code it already has)",
		Long: `allocate validates one request, and either allocates a new code or, if any of
its identifiers is already held, returns that city's existing code. It prints
only after the checkpoint that includes the allocation is durably published.

Identifier schemes: unlocode:CCLLL, geonames:DIGITS, iso3166-2:CC-SSS,
national:CC:AUTHORITY:CODE. A country without ISO 3166-2 subdivisions uses
subdivision 0.`,
		Example: `  citylog allocate --dir reg --country CN --subdivision HE --name Shijiazhuang \
      --id unlocode:CNSJW --id geonames:1795270 --lat 38.04 --lon 114.51
  citylog allocate --dir reg --country VA --subdivision 0 --name "Vatican City" --id geonames:6691831 --json
  citylog allocate --dir reg --country FR --subdivision IDF --name Paris --id unlocode:FRPAR --receipt paris.tlog-proof
  cityverify receipt paris.tlog-proof --key reg/state/vkey`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			latSet, lonSet := cmd.Flags().Changed("lat"), cmd.Flags().Changed("lon")
			if latSet != lonSet {
				return usageError("--lat and --lon go together")
			}
			req.HasLocation, req.Lat, req.Lon = latSet, lat, lon
			w, err := log.Open(cmd.Context(), log.Config{Dir: dir})
			if err != nil {
				return err
			}
			res, err := w.Allocate(cmd.Context(), []entry.Request{req})
			if err == nil && res[0].Err == nil && receipt != "" {
				err = writeReceipt(cmd.Context(), w, res[0].Index, receipt)
			}
			if err = endWrite(cmd.Context(), w, err); err != nil {
				return err
			}
			r := res[0]
			if r.Err != nil {
				hint := "fix the request; citylog allocate --help lists the rules"
				if errors.Is(r.Err, log.ErrConflict) {
					hint = "one city, one code: submit identifiers of different cities separately"
				}
				return &cliError{code: exitRefused, err: r.Err, hint: hint}
			}
			if asJSON {
				return writeJSON(e.stdout, codeJSON{Code: r.Code.String(), Index: r.Index, Existing: r.Existing})
			}
			if r.Existing {
				fmt.Fprintf(e.stdout, "%s\t%d\texisting\n", r.Code, r.Index)
			} else {
				fmt.Fprintf(e.stdout, "%s\t%d\n", r.Code, r.Index)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	f := cmd.Flags()
	f.StringVar(&req.Country, "country", "", "ISO 3166-1 alpha-2 country code, e.g. CN")
	f.StringVar(&req.Subdivision, "subdivision", "", "ISO 3166-2 subdivision after the dash, e.g. HE for CN-HE; 0 if the country has none")
	f.StringVar(&req.Name, "name", "", "the city's name")
	f.StringArrayVar(&req.IDs, "id", nil, "an identifier scheme:value (repeatable, 1-8)")
	f.Float64Var(&lat, "lat", 0, "latitude in degrees (optional, with --lon)")
	f.Float64Var(&lon, "lon", 0, "longitude in degrees (optional, with --lat)")
	f.BoolVar(&asJSON, "json", false, "print {\"code\":..,\"index\":..,\"existing\":..} for scripts")
	f.StringVar(&receipt, "receipt", "", "also write the offline receipt (c2sp.org/tlog-proof) to this file")
	return cmd
}

type codeJSON struct {
	Line     int    `json:"line,omitempty"`
	Code     string `json:"code"`
	Index    uint64 `json:"index"`
	Existing bool   `json:"existing"`
}

// writeReceipt writes the offline receipt of a published leaf to path.
func writeReceipt(ctx context.Context, w *log.Writer, leaf uint64, path string) error {
	r, err := w.Receipt(ctx, leaf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, r, 0o644); err != nil {
		return fmt.Errorf("couldn't write receipt: %w", err)
	}
	return nil
}

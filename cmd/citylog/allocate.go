package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	var sf storageFlags
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
			// The receipt's place is checked before anything is allocated:
			// an allocation is durable and cannot be taken back.
			var out *receiptFile
			if receipt != "" {
				var err error
				if out, err = createReceipt(receipt); err != nil {
					return &cliError{code: exitUsage, err: err, hint: "give --receipt a path in a writable directory; nothing was allocated"}
				}
				defer out.abandon()
			}
			w, err := openLog(cmd.Context(), dir, &sf)
			if err != nil {
				return err
			}
			res, err := w.Allocate(cmd.Context(), []entry.Request{req})
			var proof []byte
			if err == nil && res[0].Err == nil && out != nil {
				proof, err = w.Receipt(cmd.Context(), res[0].Index)
			}
			if err = endWrite(cmd.Context(), w, err); err != nil && (res == nil || res[0].Err != nil) {
				return err
			}
			r := res[0]
			if r.Err != nil {
				hint := "fix the request; citylog allocate --help lists the rules"
				if errors.Is(r.Err, log.ErrConflict) {
					hint = "one city, one code: an identifier of another city, or of two cities, cannot go in one request"
				}
				return &cliError{code: exitRefused, err: r.Err, hint: hint}
			}
			if !r.Existing {
				defer refreshSite(cmd.Context(), e, dir, &sf, nil)
			}
			// Allocated, durably: the code is printed whatever follows.
			if r.Differs != nil {
				fmt.Fprintf(e.stderr, "citylog: warning: %s is this city's existing code; %s (an entry never changes)\n", r.Code, r.Differs)
			}
			if asJSON {
				writeJSON(e.stdout, codeJSON{Code: r.Code.String(), Index: r.Index, Existing: r.Existing, Differs: r.Differs})
			} else if r.Existing {
				fmt.Fprintf(e.stdout, "%s\t%d\texisting\n", r.Code, r.Index)
			} else {
				fmt.Fprintf(e.stdout, "%s\t%d\n", r.Code, r.Index)
			}
			if err == nil && out != nil {
				err = out.commit(proof)
			}
			if err != nil {
				hint := "the allocation is durable; the next run of citylog on this log finishes the rest"
				if out != nil {
					hint = "the allocation is durable; run the same command again to get the receipt (it answers existing)"
				}
				return &cliError{code: exitFailure, err: fmt.Errorf("%s is allocated, but: %w", r.Code, err), hint: hint}
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	sf.add(cmd)
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
	Line     int              `json:"line,omitempty"`
	Code     string           `json:"code"`
	Index    uint64           `json:"index"`
	Existing bool             `json:"existing"`
	Differs  *log.Differences `json:"differs,omitempty"`
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

// receiptFile is a receipt's place, taken before the allocation: a
// temporary file beside the target, renamed over it once written.
type receiptFile struct {
	f    *os.File
	path string
}

func createReceipt(path string) (*receiptFile, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("--receipt %s is a directory; give a file name, e.g. %s", path, filepath.Join(path, "CITY.tlog-proof"))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("couldn't write the receipt to %s: %w", path, err)
	}
	return &receiptFile{f: f, path: path}, nil
}

// commit writes the receipt and gives it its name.
func (r *receiptFile) commit(proof []byte) error {
	_, err := r.f.Write(proof)
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(r.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(r.f.Name(), r.path)
	}
	if err != nil {
		return fmt.Errorf("couldn't write the receipt to %s: %w", r.path, err)
	}
	r.f = nil
	return nil
}

// abandon removes the temporary file unless commit gave it its name.
func (r *receiptFile) abandon() {
	if r.f != nil {
		r.f.Close()
		os.Remove(r.f.Name())
	}
}

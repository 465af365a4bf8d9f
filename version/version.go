package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: -X github.com/airflow-pod-deadline/airflow-pod-deadline/version.version=0.1.0
// (and .commit). Unexported so that nothing but the linker writes them.
var (
	version string
	commit  string
)

// Info identifies a build.
type Info struct {
	Version   string // release version (Chart.yaml appVersion), or the module version, or "devel"
	Commit    string // git commit, or "unknown"
	GoVersion string // toolchain that built the binary
	Platform  string // GOOS/GOARCH
}

// Get returns the running binary's Info.
func Get() Info {
	return get(version, commit, debug.ReadBuildInfo)
}

// get prefers the linker's values: `go build` from a checkout records
// "(devel)" and, with -buildvcs=false or -trimpath in a module cache, no
// commit at all.
func get(ver, rev string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: ver, Commit: rev, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is what --version prints.
func (i Info) String() string {
	return fmt.Sprintf("airflow-pod-deadline %s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}

// Package helmchart renders the project's Helm chart with bin/helm and parses
// what it renders, for the tests that read the chart without a cluster
// (test/static) and those that install it into one (test/controlplane). It
// also holds the notable combinations of values both of them go through
// (Cases). It is test infrastructure, not part of the shipped binary.
package helmchart

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

type config struct {
	root     string
	baseline string
	duration time.Duration
	rounds   int
	conns    int
	url      string
	ca       string
	body     string
}

// result is what one generator run reports.
type result struct {
	Reviews   int           `json:"reviews"`
	Errors    int           `json:"errors"`
	Seconds   float64       `json:"seconds"`
	Latencies time.Duration `json:"-"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
}

// generate sends the body to the URL from conns keep-alive connections for
// the duration and prints a result as JSON.
func generate(cfg config) error {
	caPEM, err := os.ReadFile(cfg.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	body, err := os.ReadFile(cfg.body)
	if err != nil {
		return err
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		ForceAttemptHTTP2:   false,
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	stop := time.Now().Add(cfg.duration)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Post(cfg.url, "application/json", bytes.NewReader(body))
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(lat) == 0 {
		return fmt.Errorf("no successful review (%d errors)", errs)
	}
	slices.Sort(lat)
	r := result{Reviews: len(lat), Errors: errs, Seconds: elapsed.Seconds(),
		P50: lat[len(lat)/2], P99: lat[int(0.99*float64(len(lat)-1))]}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// Command prog is a small stand-in for the product binary in the image
// tests: a real Go program with one dependency module in its build info.
package main

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() { fmt.Println(types.OCIImageIndex) }

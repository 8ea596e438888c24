// Gin's side of the instruction counts (bench/gin_irq.sh): the same three routes as
// tether's bench_server, the same answers, the middleware chosen by LOGGER=1 and
// RECOVERY=1 as there. Built against Debian's packaged Gin (GOPATH mode, no network).
package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

type message struct {
	Message string `json:"message"`
}

type user struct {
	ID string `json:"id"`
}

func main() {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if os.Getenv("LOGGER") == "1" {
		r.Use(gin.Logger())
	}
	if os.Getenv("RECOVERY") == "1" {
		r.Use(gin.Recovery())
	}
	r.GET("/plaintext", func(c *gin.Context) { c.String(http.StatusOK, "Hello, World!") })
	r.GET("/json", func(c *gin.Context) { c.JSON(http.StatusOK, message{Message: "Hello, World!"}) })
	r.GET("/user/:id", func(c *gin.Context) { c.JSON(http.StatusOK, user{ID: c.Param("id")}) })
	if err := r.Run("127.0.0.1:" + os.Getenv("PORT")); err != nil {
		panic(err)
	}
}

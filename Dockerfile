# madx: IHE mADX Content Consumer. Static binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/madx ./cmd/madx

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/madx /usr/local/bin/madx
COPY --from=build /src/testdata/madx/definitions /usr/share/madx/definitions
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/madx"]
CMD ["serve"]

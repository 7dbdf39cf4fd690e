# Corridor: one static binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/corridor ./cmd/corridor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/corridor /corridor
EXPOSE 8080 6808
ENTRYPOINT ["/corridor"]
CMD ["serve"]

module github.com/citylog/citylog

go 1.26.8

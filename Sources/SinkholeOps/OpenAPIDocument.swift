// Generated from docs/openapi.json: edit that file, then run
//     python3 Tests/integration/test_openapi.py --write
// Tests/integration/test_openapi.py checks that this string and the file are identical.

/// The OpenAPI 3 document of the native routes, served at `GET /api/v1/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.0.3",
  "info": {
    "title": "sinkhole control API",
    "version": "1",
    "description": "sinkhole's own routes on the operations listener (`--http-listen`, default 127.0.0.1:8025): the Mailpit-compatible ones and sinkhole's, all under `/api/v1/`, and `/healthz`, `/readyz`, `/livez`, `/metrics`. James's routes (`/smtpBehaviors`, `/smtpExtensions`, `/smtpMails`, `/smtpMailsCount`, `/version`) are not described here: see docs/api.md.\n\nWith a token (`--api-token`), every route but the four open ones needs `Authorization: Bearer <token>`; under `--api-read-open`, GET needs none. Without a token, nothing does.\n\nErrors are JSON, `{\"error\": \"...\", \"field\": \"...\"}`. Under `/api/`, a path this document lists with a method it does not list gets 405 with `Allow` (`field` `method`), any other path 404 (`field` `path`), and a body over the limit 413 (`field` `body`). The request's `Content-Type` is ignored: bodies are read as JSON."
  },
  "security": [
    {
      "bearerAuth": []
    }
  ],
  "tags": [
    {
      "name": "messages",
      "description": "Captured mail (`--capture memory`), Mailpit's shapes."
    },
    {
      "name": "chaos",
      "description": "Mailpit's chaos triggers."
    },
    {
      "name": "mode",
      "description": "The mode over HTTP."
    },
    {
      "name": "journal",
      "description": "The session journal and verification."
    },
    {
      "name": "rules",
      "description": "Rules added over the API, and the reset to the configured baseline."
    },
    {
      "name": "events",
      "description": "Server-sent events."
    },
    {
      "name": "clock",
      "description": "The test clock (`--test-clock`)."
    },
    {
      "name": "greylist",
      "description": "The greylist's entries."
    },
    {
      "name": "operations",
      "description": "Health, readiness, metrics and this document."
    }
  ],
  "paths": {
    "/api/v1/messages": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "List the captured messages, newest first",
        "description": "Mailpit-compatible. A `start` or `limit` that is not a whole number, 0 or more, gets 400 with `field` `start`.",
        "operationId": "listMessages",
        "parameters": [
          {
            "$ref": "#/components/parameters/start"
          },
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "name": "before",
            "in": "query",
            "description": "Only messages received before this time: RFC 3339 (`2026-12-01T10:00:00Z`) or a date (`2026-12-01`), as Mailpit's `before`.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The list.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/MessageList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "put": {
        "tags": [
          "messages"
        ],
        "summary": "Mark messages read or unread",
        "description": "Mailpit-compatible. Sets `Read` on the messages in `IDs`; without `IDs`, on the matches of `Search`, or on every message. The body must be a JSON object with a boolean `Read`.",
        "operationId": "setReadStatus",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ReadStatusRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Done. The body is `ok` (no newline).",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ok"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      },
      "delete": {
        "tags": [
          "messages"
        ],
        "summary": "Delete messages",
        "description": "Mailpit-compatible. Deletes the messages in `IDs`; any other body (none, empty, not JSON, no `IDs`) deletes every message.",
        "operationId": "deleteMessages",
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/DeleteMessagesRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Done. The body is `ok` (no newline).",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ok"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      }
    },
    "/api/v1/messages/wait": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "Wait until at least `count` messages are kept",
        "description": "sinkhole's own. Counts every message kept, not new ones. Waiting deletes nothing and marks nothing read.",
        "operationId": "waitForMessages",
        "parameters": [
          {
            "name": "count",
            "in": "query",
            "required": true,
            "description": "How many messages to wait for.",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 100000
            }
          },
          {
            "name": "timeout",
            "in": "query",
            "description": "How long to wait: a duration above 0, at most `5m` (`300ms`, `10s`, `2m`).",
            "schema": {
              "type": "string",
              "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$",
              "default": "10s"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "`count` messages are kept: the whole list, newest first, as `GET /api/v1/messages?limit=0`.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/MessageList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "408": {
            "description": "`timeout` passed first (or 256 requests are already waiting); `field`: `count`.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "409": {
            "description": "No mail is kept: start sinkhole with `--capture memory` (`field`: `count`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
    "/api/v1/search": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "Search the captured messages",
        "description": "Mailpit-compatible. No or an empty `query`: 400.",
        "operationId": "searchMessages",
        "parameters": [
          {
            "name": "query",
            "in": "query",
            "required": true,
            "description": "Terms ANDed: `to:`, `from:`, `subject:`, `is:read`, `is:unread`, plain words; `\"quoted words\"` as one term. Case-insensitive substrings. `+` is a space.",
            "schema": {
              "type": "string",
              "minLength": 1
            },
            "example": "subject:report"
          },
          {
            "$ref": "#/components/parameters/start"
          },
          {
            "$ref": "#/components/parameters/limit"
          }
        ],
        "responses": {
          "200": {
            "description": "The matches, in the list's shape: `total` and `unread` count the whole mailbox, `messages_count` and `messages_unread` the matches.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/MessageList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "delete": {
        "tags": [
          "messages"
        ],
        "summary": "Delete the messages that match a search",
        "description": "Mailpit-compatible.",
        "operationId": "deleteSearch",
        "parameters": [
          {
            "name": "query",
            "in": "query",
            "required": true,
            "description": "Terms ANDed: `to:`, `from:`, `subject:`, `is:read`, `is:unread`, plain words; `\"quoted words\"` as one term. Case-insensitive substrings. `+` is a space.",
            "schema": {
              "type": "string",
              "minLength": 1
            },
            "example": "subject:report"
          }
        ],
        "responses": {
          "200": {
            "description": "Done. The body is `ok` (no newline).",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ok"
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/message/{id}": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "One message, which it marks read",
        "description": "Mailpit-compatible. Every ID gets 404 without `--capture memory`.",
        "operationId": "getMessage",
        "parameters": [
          {
            "$ref": "#/components/parameters/messageID"
          }
        ],
        "responses": {
          "200": {
            "description": "The message (already `\"Read\": true`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Message"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/api/v1/message/{id}/headers": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "One message's headers",
        "description": "Mailpit-compatible.",
        "operationId": "getMessageHeaders",
        "parameters": [
          {
            "$ref": "#/components/parameters/messageID"
          }
        ],
        "responses": {
          "200": {
            "description": "The headers. The message is not marked read.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Headers"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/api/v1/message/{id}/raw": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "One message as received",
        "description": "Mailpit-compatible.",
        "operationId": "getMessageRaw",
        "parameters": [
          {
            "$ref": "#/components/parameters/messageID"
          }
        ],
        "responses": {
          "200": {
            "description": "The bytes sinkhole received (dot-unstuffed, CRLF line ends), `text/plain; charset=utf-8`. The message is not marked read.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/api/v1/info": {
      "get": {
        "tags": [
          "messages"
        ],
        "summary": "Counts and runtime figures",
        "description": "Mailpit-compatible.",
        "operationId": "getInfo",
        "responses": {
          "200": {
            "description": "Mailpit's info shape.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Info"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/chaos": {
      "get": {
        "tags": [
          "chaos"
        ],
        "summary": "The chaos triggers",
        "description": "Mailpit-compatible; chaos is always on.",
        "operationId": "getChaos",
        "responses": {
          "200": {
            "description": "The three triggers.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Chaos"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "put": {
        "tags": [
          "chaos"
        ],
        "summary": "Replace the chaos triggers",
        "description": "Mailpit-compatible. A bad body changes nothing.",
        "operationId": "setChaos",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ChaosRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The triggers now in force.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Chaos"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      }
    },
    "/api/v1/mode": {
      "get": {
        "tags": [
          "mode"
        ],
        "summary": "The mode sessions start with, and where it comes from",
        "operationId": "getMode",
        "responses": {
          "200": {
            "description": "The mode.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ModeState"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "put": {
        "tags": [
          "mode"
        ],
        "summary": "Override the mode",
        "description": "Applies to sessions that start after it, until its `ttl` ends, a `DELETE` or a restart. A new `PUT` replaces it. Any other field, or a body that is not a JSON object, gets 400 and changes nothing.",
        "operationId": "setModeOverride",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ModeOverrideRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The mode after the change.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ModeState"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      },
      "delete": {
        "tags": [
          "mode"
        ],
        "summary": "Clear the override",
        "operationId": "clearModeOverride",
        "responses": {
          "200": {
            "description": "The mode after the override is gone.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ModeState"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/sessions": {
      "get": {
        "tags": [
          "journal"
        ],
        "summary": "List the finished sessions the journal keeps, newest first",
        "operationId": "listSessions",
        "parameters": [
          {
            "name": "client",
            "in": "query",
            "description": "From this IP address (exactly; no port).",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "sender",
            "in": "query",
            "description": "With a `MAIL FROM` address that contains this, ignoring case.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "recipient",
            "in": "query",
            "description": "With a `RCPT TO` address that contains this, ignoring case.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "outcome",
            "in": "query",
            "description": "That ended this way (`quit`, `refused`, …).",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "since",
            "in": "query",
            "description": "That ended this long ago or later (`30s`), or since an RFC 3339 time.",
            "schema": {
              "anyOf": [
                {
                  "$ref": "#/components/schemas/Duration"
                },
                {
                  "type": "string",
                  "format": "date-time"
                }
              ]
            }
          },
          {
            "name": "limit",
            "in": "query",
            "description": "At most this many; `0`: all.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "default": 100
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The sessions that match.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SessionList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "$ref": "#/components/responses/NoJournal"
          }
        }
      }
    },
    "/api/v1/sessions/{id}": {
      "get": {
        "tags": [
          "journal"
        ],
        "summary": "One session: its summary and transcript",
        "operationId": "getSession",
        "parameters": [
          {
            "name": "id",
            "in": "path",
            "required": true,
            "description": "The journal's number for the session (from 1).",
            "schema": {
              "type": "integer",
              "format": "int64",
              "minimum": 1
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The session.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Session"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "$ref": "#/components/responses/NoJournal"
          }
        }
      }
    },
    "/api/v1/verify": {
      "post": {
        "tags": [
          "journal"
        ],
        "summary": "Check an expectation about one command against every session kept",
        "description": "Any other field, or a bad value, gets 400 naming it.",
        "operationId": "verify",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/Expectation"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The expectation holds.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Verdict"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "description": "The expectation does not hold (a verdict with `near_misses`), or no sessions are kept (an error, `field` `journal-max-sessions`).",
            "content": {
              "application/json": {
                "schema": {
                  "anyOf": [
                    {
                      "$ref": "#/components/schemas/Verdict"
                    },
                    {
                      "$ref": "#/components/schemas/Error"
                    }
                  ]
                }
              }
            }
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      }
    },
    "/api/v1/rules": {
      "get": {
        "tags": [
          "rules"
        ],
        "summary": "The API's rules, then the configured ones, with their counts",
        "operationId": "listRules",
        "responses": {
          "200": {
            "description": "Every rule.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RuleList"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "post": {
        "tags": [
          "rules"
        ],
        "summary": "Add a rule, or a list of them",
        "description": "Added after the API's other rules, each in turn: the first bad one stops the rest, and the error names the ones added before it.",
        "operationId": "addRules",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "anyOf": [
                  {
                    "$ref": "#/components/schemas/Rule"
                  },
                  {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/Rule"
                    }
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "The rules added.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RuleList"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "description": "A rule with this id exists (`field` `id`), or the API has 1000 rules (`field` `body`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      },
      "delete": {
        "tags": [
          "rules"
        ],
        "summary": "Remove every rule the API added",
        "description": "The configured rules stay.",
        "operationId": "removeAllRules",
        "responses": {
          "204": {
            "description": "Done. No body."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/rules/{id}": {
      "get": {
        "tags": [
          "rules"
        ],
        "summary": "One rule, with its counts",
        "operationId": "getRule",
        "parameters": [
          {
            "$ref": "#/components/parameters/ruleID"
          }
        ],
        "responses": {
          "200": {
            "description": "The rule.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RuleState"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      },
      "patch": {
        "tags": [
          "rules"
        ],
        "summary": "Change fields of a rule the API added",
        "operationId": "updateRule",
        "parameters": [
          {
            "$ref": "#/components/parameters/ruleID"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/RulePatch"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The rule after the change.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RuleState"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "description": "The rule comes from the configuration (`field` `id`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      },
      "delete": {
        "tags": [
          "rules"
        ],
        "summary": "Remove a rule the API added",
        "operationId": "removeRule",
        "parameters": [
          {
            "$ref": "#/components/parameters/ruleID"
          }
        ],
        "responses": {
          "204": {
            "description": "Done. No body."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "409": {
            "description": "The rule comes from the configuration (`field` `id`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
    "/api/v1/reset": {
      "post": {
        "tags": [
          "rules"
        ],
        "summary": "Back to the configured baseline",
        "description": "The API's rules, behaviours, chaos and extensions gone, every count restarted, no greylist entries, no mail, no journal, no mode override.",
        "operationId": "reset",
        "responses": {
          "204": {
            "description": "Done. No body."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/events": {
      "get": {
        "tags": [
          "events"
        ],
        "summary": "Server-sent events: mail captured, sessions closed, mode changes, rules used up",
        "operationId": "streamEvents",
        "responses": {
          "200": {
            "description": "A stream that lasts until the client goes away or sinkhole stops (`Cache-Control: no-cache`). It opens with the comment `: sinkhole events`; each event is `event: <type>` and `data: <JSON object>` (`type` and the event's fields, every value a string), and a `: keep-alive` comment comes every 15 s. Types: `message_captured`, `session_closed`, `mode_changed`, `rule_exhausted`. A listener that falls 256 events behind loses the oldest.",
            "content": {
              "text/event-stream": {
                "schema": {
                  "type": "string"
                },
                "example": "event: mode_changed\ndata: {\"type\":\"mode_changed\",\"new\":\"bounce\",\"old\":\"accept\",\"source\":\"api\"}\n\n"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "description": "Events are off (`field`: `events`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "429": {
            "description": "64 listeners are already connected (`field`: `events`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          }
        }
      }
    },
    "/api/v1/clock": {
      "get": {
        "tags": [
          "clock"
        ],
        "summary": "How far the test clock has moved",
        "operationId": "getClock",
        "responses": {
          "200": {
            "description": "The clock.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Clock"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "$ref": "#/components/responses/NoTestClock"
          }
        }
      },
      "post": {
        "tags": [
          "clock"
        ],
        "summary": "Move the test clock forward",
        "description": "Greylist windows, rule lifetimes and counters follow the test clock (`--test-clock`).",
        "operationId": "advanceClock",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ClockAdvanceRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The clock after the move.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Clock"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "$ref": "#/components/responses/NoTestClock"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          }
        }
      }
    },
    "/api/v1/greylist": {
      "get": {
        "tags": [
          "greylist"
        ],
        "summary": "The greylist's entries",
        "operationId": "listGreylist",
        "responses": {
          "200": {
            "description": "The entries.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Greylist"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      },
      "delete": {
        "tags": [
          "greylist"
        ],
        "summary": "Forget every greylist entry",
        "operationId": "clearGreylist",
        "responses": {
          "204": {
            "description": "Done. No body."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/api/v1/greylist/{key}/pass": {
      "post": {
        "tags": [
          "greylist"
        ],
        "summary": "Let a greylisted key through from now on",
        "description": "As if its retry had come.",
        "operationId": "passGreylistEntry",
        "parameters": [
          {
            "name": "key",
            "in": "path",
            "required": true,
            "description": "An entry's `key`, percent-encoded (`/` as `%2F`).",
            "schema": {
              "type": "string",
              "minLength": 1
            },
            "example": "127.0.0.1"
          }
        ],
        "responses": {
          "204": {
            "description": "Done. No body."
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          }
        }
      }
    },
    "/api/v1/openapi.json": {
      "get": {
        "tags": [
          "operations"
        ],
        "summary": "This document",
        "operationId": "getOpenAPIDocument",
        "responses": {
          "200": {
            "description": "The OpenAPI 3 document of these routes (docs/openapi.json).",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          }
        }
      }
    },
    "/healthz": {
      "get": {
        "tags": [
          "operations"
        ],
        "summary": "Health: 200 while the process runs",
        "operationId": "getHealth",
        "responses": {
          "200": {
            "description": "`ok` and a newline.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ok\n"
              }
            }
          }
        },
        "security": []
      }
    },
    "/readyz": {
      "get": {
        "tags": [
          "operations"
        ],
        "summary": "Readiness",
        "operationId": "getReadiness",
        "responses": {
          "200": {
            "description": "sinkhole listens and its mode source has given a good value: `ready` and a newline.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ready\n"
              }
            }
          },
          "503": {
            "description": "Not yet: `not ready: ` and the reasons, and a newline.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "not ready: no good value from the mode source yet\n"
              }
            }
          }
        },
        "security": []
      }
    },
    "/livez": {
      "get": {
        "tags": [
          "operations"
        ],
        "summary": "Liveness (Mailpit's): 200 while the process runs",
        "operationId": "getLiveness",
        "responses": {
          "200": {
            "description": "`ok` and a newline.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "ok\n"
              }
            }
          }
        },
        "security": []
      }
    },
    "/metrics": {
      "get": {
        "tags": [
          "operations"
        ],
        "summary": "Prometheus metrics",
        "operationId": "getMetrics",
        "responses": {
          "200": {
            "description": "The Prometheus text format, `text/plain; version=0.0.4; charset=utf-8`.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        },
        "security": []
      }
    },
    "/": {
      "get": {
        "operationId": "webPage",
        "summary": "The operator's web page (HTML, over the JSON routes)",
        "security": [],
        "tags": [
          "operations"
        ],
        "responses": {
          "200": {
            "description": "The page",
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    },
    "/favicon.ico": {
      "get": {
        "operationId": "favicon",
        "summary": "No icon: 204, so browsers log nothing",
        "security": [],
        "responses": {
          "204": {
            "description": "Nothing"
          }
        },
        "tags": [
          "operations"
        ]
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The token of `--api-token`, `SINKHOLE_API_TOKEN` or `--api-token-file`."
      }
    },
    "parameters": {
      "start": {
        "name": "start",
        "in": "query",
        "description": "Skip this many (newest first).",
        "schema": {
          "type": "integer",
          "minimum": 0,
          "default": 0
        }
      },
      "limit": {
        "name": "limit",
        "in": "query",
        "description": "At most this many; `0`: no limit.",
        "schema": {
          "type": "integer",
          "minimum": 0,
          "default": 50
        }
      },
      "messageID": {
        "name": "id",
        "in": "path",
        "required": true,
        "description": "A queue id, or `latest` for the newest message.",
        "schema": {
          "type": "string",
          "minLength": 1
        },
        "example": "latest"
      },
      "ruleID": {
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The rule's id.",
        "schema": {
          "type": "string",
          "minLength": 1
        },
        "example": "api-1"
      }
    },
    "responses": {
      "BadRequest": {
        "description": "A parameter or the body is wrong; `field` names it.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "A token is set (`--api-token`) and the request has no `Authorization: Bearer <token>`, or the wrong one (`field`: `Authorization`). Under `--api-read-open`, GET needs none.",
        "headers": {
          "WWW-Authenticate": {
            "description": "`Bearer`",
            "schema": {
              "type": "string",
              "enum": [
                "Bearer"
              ]
            }
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "NotFound": {
        "description": "Not found; `field` names what is unknown.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "MethodNotAllowed": {
        "description": "The path is a native route but not for this method (`field`: `method`). Answered for any method a path of this document does not list.",
        "headers": {
          "Allow": {
            "description": "The methods the path takes, `GET, PUT, DELETE`.",
            "schema": {
              "type": "string"
            }
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "NoRoute": {
        "description": "An `/api/...` path that is no route (`field`: `path`).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "PayloadTooLarge": {
        "description": "The body is over the limit (1 MiB; 64 KiB for `/api/v1/mode`, `/api/v1/verify` and `/api/v1/clock`); `field`: `body`.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "NoJournal": {
        "description": "No sessions are kept: `--journal-max-sessions` is 0 (`field`: `journal-max-sessions`).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "NoTestClock": {
        "description": "sinkhole was started without `--test-clock` (`field`: `test-clock`).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      }
    },
    "schemas": {
      "Error": {
        "type": "object",
        "description": "Every error of the native routes: what is wrong, and the field (or flag, or `body`, `path`, `method`) at fault.",
        "required": [
          "error",
          "field"
        ],
        "properties": {
          "error": {
            "type": "string",
            "example": "no message with ID NOPE"
          },
          "field": {
            "type": "string",
            "example": "ID"
          }
        },
        "additionalProperties": false
      },
      "Null": {
        "type": "string",
        "nullable": true,
        "enum": [
          null
        ],
        "description": "JSON `null`."
      },
      "Duration": {
        "type": "string",
        "description": "A duration: a number of seconds (`30`, `0.5`) or a number with a unit, `ms`, `s`, `m`, `h` or `d` (`500ms`, `10s`, `5m`, `2h`, `1d`); at most 365 days. Case and surrounding white space are ignored.",
        "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$",
        "example": "10s"
      },
      "DurationOrSeconds": {
        "description": "A duration as text, or a number of seconds.",
        "anyOf": [
          {
            "$ref": "#/components/schemas/Duration"
          },
          {
            "type": "number",
            "minimum": 0,
            "maximum": 31536000
          }
        ]
      },
      "Address": {
        "type": "object",
        "required": [
          "Name",
          "Address"
        ],
        "properties": {
          "Name": {
            "type": "string"
          },
          "Address": {
            "type": "string"
          }
        }
      },
      "MessageSummary": {
        "type": "object",
        "required": [
          "ID",
          "MessageID",
          "Read",
          "From",
          "To",
          "Cc",
          "Bcc",
          "ReplyTo",
          "Subject",
          "Created",
          "Username",
          "Tags",
          "Size",
          "Attachments",
          "Snippet"
        ],
        "properties": {
          "ID": {
            "type": "string",
            "description": "sinkhole's queue id, as in `250 2.0.0 OK queued as <id>`.",
            "example": "1A81E04900000001"
          },
          "MessageID": {
            "type": "string",
            "description": "The `Message-ID:` header without `<>`; `\"\"` when there is none."
          },
          "Read": {
            "type": "boolean"
          },
          "From": {
            "allOf": [
              {
                "$ref": "#/components/schemas/Address"
              }
            ],
            "description": "The first `From:` address; both fields `\"\"` when there is none."
          },
          "To": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "Cc": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "Bcc": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            },
            "description": "A `Bcc:` header's addresses, then the envelope recipients `To:` and `Cc:` do not name."
          },
          "ReplyTo": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "Subject": {
            "type": "string"
          },
          "Created": {
            "type": "string",
            "format": "date-time",
            "description": "When sinkhole received it, UTC, with milliseconds."
          },
          "Username": {
            "type": "string",
            "description": "Always `\"\"`."
          },
          "Tags": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "maxItems": 0,
            "description": "Always `[]`."
          },
          "Size": {
            "type": "integer",
            "minimum": 0,
            "description": "The bytes received."
          },
          "Attachments": {
            "type": "integer",
            "minimum": 0,
            "description": "How many attachments."
          },
          "Snippet": {
            "type": "string",
            "description": "Up to 250 characters of `Text`, or of `HTML` without its tags, white space collapsed."
          }
        }
      },
      "MessageList": {
        "type": "object",
        "required": [
          "total",
          "unread",
          "count",
          "messages_count",
          "messages_unread",
          "start",
          "tags",
          "messages"
        ],
        "properties": {
          "total": {
            "type": "integer",
            "minimum": 0,
            "description": "The messages kept."
          },
          "unread": {
            "type": "integer",
            "minimum": 0,
            "description": "How many of them are not read."
          },
          "count": {
            "type": "integer",
            "minimum": 0,
            "description": "The messages in this answer."
          },
          "messages_count": {
            "type": "integer",
            "minimum": 0,
            "description": "The list: `total`. A search: how many match."
          },
          "messages_unread": {
            "type": "integer",
            "minimum": 0,
            "description": "The list: `unread`. A search: how many matches are not read."
          },
          "start": {
            "type": "integer",
            "minimum": 0
          },
          "tags": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "maxItems": 0,
            "description": "Always `[]`."
          },
          "messages": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/MessageSummary"
            },
            "description": "Newest first."
          }
        }
      },
      "Part": {
        "type": "object",
        "required": [
          "PartID",
          "FileName",
          "ContentType",
          "ContentID",
          "Size"
        ],
        "properties": {
          "PartID": {
            "type": "string",
            "description": "The part's position: `2`, `1.2`.",
            "example": "2"
          },
          "FileName": {
            "type": "string"
          },
          "ContentType": {
            "type": "string"
          },
          "ContentID": {
            "type": "string"
          },
          "Size": {
            "type": "integer",
            "minimum": 0,
            "description": "Decoded bytes."
          }
        }
      },
      "Message": {
        "type": "object",
        "required": [
          "ID",
          "MessageID",
          "Read",
          "From",
          "To",
          "Cc",
          "Bcc",
          "ReplyTo",
          "ReturnPath",
          "Subject",
          "ListUnsubscribe",
          "Date",
          "Tags",
          "Username",
          "Text",
          "HTML",
          "Size",
          "Inline",
          "Attachments",
          "SMTP"
        ],
        "properties": {
          "ID": {
            "type": "string",
            "description": "sinkhole's queue id, as in `250 2.0.0 OK queued as <id>`.",
            "example": "1A81E04900000001"
          },
          "MessageID": {
            "type": "string",
            "description": "The `Message-ID:` header without `<>`; `\"\"` when there is none."
          },
          "Read": {
            "type": "boolean"
          },
          "From": {
            "allOf": [
              {
                "$ref": "#/components/schemas/Address"
              }
            ],
            "description": "The first `From:` address; both fields `\"\"` when there is none."
          },
          "To": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "Cc": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "Bcc": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            },
            "description": "A `Bcc:` header's addresses, then the envelope recipients `To:` and `Cc:` do not name."
          },
          "ReplyTo": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Address"
            }
          },
          "ReturnPath": {
            "type": "string",
            "description": "The envelope sender; `\"\"` for the null sender."
          },
          "Subject": {
            "type": "string"
          },
          "ListUnsubscribe": {
            "type": "object",
            "required": [
              "Header",
              "Links",
              "Errors",
              "HeaderPost"
            ],
            "properties": {
              "Header": {
                "type": "string"
              },
              "Links": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "Errors": {
                "type": "string",
                "description": "Always `\"\"`."
              },
              "HeaderPost": {
                "type": "string"
              }
            }
          },
          "Date": {
            "type": "string",
            "format": "date-time",
            "description": "The `Date:` header, else the receive time, UTC."
          },
          "Tags": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "maxItems": 0
          },
          "Username": {
            "type": "string"
          },
          "Text": {
            "type": "string"
          },
          "HTML": {
            "type": "string"
          },
          "Size": {
            "type": "integer",
            "minimum": 0
          },
          "Inline": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Part"
            }
          },
          "Attachments": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Part"
            }
          },
          "SMTP": {
            "type": "object",
            "description": "sinkhole's own (Mailpit clients ignore it): the envelope, and the transaction as it went.",
            "required": [
              "ClientIP",
              "Helo",
              "Listener",
              "TLS",
              "AuthUser",
              "MailFrom",
              "Recipients",
              "Transaction"
            ],
            "properties": {
              "ClientIP": {
                "type": "string"
              },
              "Helo": {
                "type": "string"
              },
              "Listener": {
                "type": "string"
              },
              "TLS": {
                "type": "object",
                "nullable": true,
                "description": "How the message came over TLS, or null in plain.",
                "required": [
                  "Version",
                  "Cipher",
                  "ServerName"
                ],
                "properties": {
                  "Version": {
                    "type": "string",
                    "description": "`TLSv1.3` or `TLSv1.2`."
                  },
                  "Cipher": {
                    "type": "string",
                    "nullable": true,
                    "description": "IANA's name of the cipher suite, read off the ServerHello."
                  },
                  "ServerName": {
                    "type": "string",
                    "nullable": true,
                    "description": "The client's SNI name, if it sent one."
                  }
                }
              },
              "AuthUser": {
                "type": "string",
                "nullable": true,
                "description": "Who AUTH said the client was, or null; also in `Username`."
              },
              "MailFrom": {
                "type": "string",
                "description": "The envelope sender without `<>`; `<>` for the null sender."
              },
              "Recipients": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "Transaction": {
                "type": "array",
                "description": "Each command from MAIL FROM on, the reply sent, and the decision behind it.",
                "items": {
                  "type": "object",
                  "required": [
                    "Command",
                    "Reply",
                    "Decision"
                  ],
                  "properties": {
                    "Command": {
                      "type": "string"
                    },
                    "Reply": {
                      "type": "string"
                    },
                    "Decision": {
                      "type": "string",
                      "nullable": true,
                      "description": "`null` for the protocol's own reply."
                    }
                  }
                }
              }
            }
          }
        }
      },
      "Headers": {
        "type": "object",
        "description": "Each header once, in order, as written, with every value it has (unfolded).",
        "additionalProperties": {
          "type": "array",
          "items": {
            "type": "string"
          }
        },
        "example": {
          "Subject": [
            "Quarterly report"
          ],
          "To": [
            "Bob <bob@example.org>"
          ]
        }
      },
      "ReadStatusRequest": {
        "type": "object",
        "description": "Key names are case-insensitive (`read`, `ids`, `search`); other keys are ignored.",
        "required": [
          "Read"
        ],
        "properties": {
          "Read": {
            "type": "boolean"
          },
          "IDs": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "The messages to set; none or `[]`: every message (or the matches of `Search`)."
          },
          "Search": {
            "type": "string",
            "description": "Without `IDs`: set only the messages that match this search."
          }
        }
      },
      "DeleteMessagesRequest": {
        "type": "object",
        "description": "The messages to delete. No body, an empty one, one that is not JSON, `{}` or `\"IDs\": []` deletes every message. Key names are case-insensitive; other keys are ignored.",
        "properties": {
          "IDs": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "An ID that is not kept is skipped."
          }
        }
      },
      "Info": {
        "type": "object",
        "required": [
          "Version",
          "LatestVersion",
          "Database",
          "DatabaseSize",
          "Messages",
          "Unread",
          "Tags",
          "RuntimeStats"
        ],
        "properties": {
          "Version": {
            "type": "string",
            "enum": [
              "sinkhole"
            ]
          },
          "LatestVersion": {
            "type": "string"
          },
          "Database": {
            "type": "string",
            "enum": [
              "memory",
              ""
            ],
            "description": "`memory` with `--capture memory`, else `\"\"`."
          },
          "DatabaseSize": {
            "type": "integer",
            "minimum": 0
          },
          "Messages": {
            "type": "integer",
            "minimum": 0
          },
          "Unread": {
            "type": "integer",
            "minimum": 0
          },
          "Tags": {
            "type": "object",
            "description": "Always `{}`."
          },
          "RuntimeStats": {
            "type": "object",
            "required": [
              "Uptime",
              "Memory",
              "MessagesDeleted",
              "SMTPAccepted",
              "SMTPAcceptedSize",
              "SMTPRejected",
              "SMTPIgnored"
            ],
            "properties": {
              "Uptime": {
                "type": "integer",
                "minimum": 0,
                "description": "Seconds since the API started."
              },
              "Memory": {
                "type": "integer",
                "minimum": 0,
                "description": "Peak resident memory, bytes."
              },
              "MessagesDeleted": {
                "type": "integer",
                "minimum": 0
              },
              "SMTPAccepted": {
                "type": "integer",
                "minimum": 0
              },
              "SMTPAcceptedSize": {
                "type": "integer",
                "minimum": 0
              },
              "SMTPRejected": {
                "type": "integer",
                "minimum": 0
              },
              "SMTPIgnored": {
                "type": "integer",
                "enum": [
                  0
                ]
              }
            }
          }
        }
      },
      "ChaosTrigger": {
        "type": "object",
        "required": [
          "ErrorCode",
          "Probability"
        ],
        "properties": {
          "ErrorCode": {
            "type": "integer",
            "minimum": 400,
            "maximum": 599
          },
          "Probability": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100
          }
        }
      },
      "Chaos": {
        "type": "object",
        "required": [
          "Sender",
          "Recipient",
          "Authentication"
        ],
        "properties": {
          "Sender": {
            "$ref": "#/components/schemas/ChaosTrigger"
          },
          "Recipient": {
            "$ref": "#/components/schemas/ChaosTrigger"
          },
          "Authentication": {
            "$ref": "#/components/schemas/ChaosTrigger"
          }
        }
      },
      "ChaosTriggerRequest": {
        "type": "object",
        "description": "Keys are case-insensitive. Left out: the default code, or probability 0.",
        "properties": {
          "ErrorCode": {
            "description": "`0` (the default code) or 400 to 599.",
            "anyOf": [
              {
                "type": "integer",
                "enum": [
                  0
                ]
              },
              {
                "type": "integer",
                "minimum": 400,
                "maximum": 599
              }
            ]
          },
          "Probability": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "description": "Percent, a whole number."
          }
        },
        "additionalProperties": false
      },
      "ChaosRequest": {
        "type": "object",
        "description": "Replaces all three triggers: one left out goes back to its default code with probability 0 (`{}` turns chaos off). Keys are case-insensitive; `Recipients` and `Auth` also work. Any other key is refused.",
        "properties": {
          "Sender": {
            "$ref": "#/components/schemas/ChaosTriggerRequest"
          },
          "Recipient": {
            "$ref": "#/components/schemas/ChaosTriggerRequest"
          },
          "Authentication": {
            "$ref": "#/components/schemas/ChaosTriggerRequest"
          }
        },
        "additionalProperties": false
      },
      "ModeName": {
        "type": "string",
        "enum": [
          "defer",
          "bounce",
          "accept",
          "accept-log",
          "greylist"
        ]
      },
      "ModeState": {
        "type": "object",
        "required": [
          "mode",
          "source",
          "override",
          "configured"
        ],
        "properties": {
          "mode": {
            "allOf": [
              {
                "$ref": "#/components/schemas/ModeName"
              }
            ],
            "description": "The mode new sessions start with now."
          },
          "source": {
            "type": "string",
            "description": "`api` while an override is in force, else the mode source: `static`, `file:<path>`, `env:<VARIABLE>`, `ssm:<name>`.",
            "example": "static"
          },
          "override": {
            "type": "object",
            "nullable": true,
            "required": [
              "mode",
              "expires_in_seconds"
            ],
            "properties": {
              "mode": {
                "$ref": "#/components/schemas/ModeName"
              },
              "expires_in_seconds": {
                "type": "number",
                "nullable": true,
                "description": "`null` without a `ttl`."
              }
            }
          },
          "configured": {
            "type": "object",
            "description": "What the mode source says, override or not.",
            "required": [
              "mode",
              "source",
              "known",
              "ttl_seconds",
              "last_read_seconds_ago",
              "last_error",
              "reads",
              "errors"
            ],
            "properties": {
              "mode": {
                "$ref": "#/components/schemas/ModeName"
              },
              "source": {
                "type": "string"
              },
              "known": {
                "type": "boolean",
                "description": "`false` until the source gave a good value."
              },
              "ttl_seconds": {
                "type": "number",
                "description": "`--mode-cache-ttl`."
              },
              "last_read_seconds_ago": {
                "type": "number",
                "nullable": true
              },
              "last_error": {
                "type": "string",
                "nullable": true
              },
              "reads": {
                "type": "integer",
                "minimum": 0
              },
              "errors": {
                "type": "integer",
                "minimum": 0
              }
            }
          }
        }
      },
      "ModeOverrideRequest": {
        "type": "object",
        "required": [
          "mode"
        ],
        "properties": {
          "mode": {
            "allOf": [
              {
                "$ref": "#/components/schemas/ModeName"
              }
            ],
            "description": "Also read case-insensitively."
          },
          "ttl": {
            "description": "How long the override lasts: a duration above 0 (or a number of seconds). Absent or `null`: until a `DELETE` or a restart.",
            "anyOf": [
              {
                "type": "string",
                "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)?$",
                "nullable": true
              },
              {
                "type": "number",
                "exclusiveMinimum": true,
                "minimum": 0,
                "maximum": 31536000
              }
            ]
          }
        },
        "additionalProperties": false,
        "example": {
          "mode": "bounce",
          "ttl": "10m"
        }
      },
      "SessionSummary": {
        "type": "object",
        "required": [
          "id",
          "client",
          "listener",
          "mode",
          "started",
          "ended",
          "duration_ms",
          "outcome",
          "helo",
          "senders",
          "recipients",
          "commands",
          "dropped_lines"
        ],
        "properties": {
          "id": {
            "type": "integer",
            "minimum": 1
          },
          "client": {
            "type": "string",
            "description": "Address and port: `127.0.0.1:43622`, `[::1]:43622`."
          },
          "listener": {
            "type": "string"
          },
          "mode": {
            "$ref": "#/components/schemas/ModeName"
          },
          "started": {
            "type": "string",
            "format": "date-time"
          },
          "ended": {
            "type": "string",
            "format": "date-time"
          },
          "duration_ms": {
            "type": "integer",
            "minimum": 0
          },
          "outcome": {
            "type": "string",
            "description": "As in the `connection` log line: `quit`, `client_closed`, `refused`, `disconnected`, `reset`, `idle_timeout`, `too_many_errors`, …",
            "example": "quit"
          },
          "helo": {
            "type": "string",
            "nullable": true,
            "description": "The first HELO, EHLO or LHLO argument."
          },
          "senders": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "recipients": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "commands": {
            "type": "integer",
            "minimum": 0
          },
          "dropped_lines": {
            "type": "integer",
            "minimum": 0
          }
        }
      },
      "SessionList": {
        "type": "object",
        "required": [
          "total",
          "count",
          "sessions"
        ],
        "properties": {
          "total": {
            "type": "integer",
            "minimum": 0,
            "description": "Sessions that match."
          },
          "count": {
            "type": "integer",
            "minimum": 0,
            "description": "Sessions in this answer."
          },
          "sessions": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/SessionSummary"
            },
            "description": "Newest first."
          }
        }
      },
      "TranscriptLine": {
        "type": "object",
        "required": [
          "at_ms",
          "kind",
          "text"
        ],
        "properties": {
          "at_ms": {
            "type": "integer",
            "minimum": 0,
            "description": "Milliseconds since the connection was accepted."
          },
          "kind": {
            "type": "string",
            "enum": [
              "client",
              "server",
              "decision",
              "note"
            ]
          },
          "text": {
            "type": "string"
          }
        }
      },
      "Session": {
        "allOf": [
          {
            "$ref": "#/components/schemas/SessionSummary"
          },
          {
            "type": "object",
            "required": [
              "transcript"
            ],
            "properties": {
              "transcript": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/TranscriptLine"
                }
              }
            }
          }
        ]
      },
      "Expectation": {
        "type": "object",
        "required": [
          "command"
        ],
        "properties": {
          "command": {
            "description": "A command name, `RCPT`, `MAIL`, `QUIT`, `EHLO`, `DATA`, …; `RCPT TO` and `MAIL FROM` also work. Case does not matter.",
            "anyOf": [
              {
                "type": "string",
                "pattern": "^[^ ]+$"
              },
              {
                "type": "string",
                "enum": [
                  "MAIL FROM",
                  "RCPT TO"
                ]
              }
            ],
            "example": "RCPT"
          },
          "matching": {
            "type": "string",
            "description": "Only the lines that contain this text, ignoring case."
          },
          "count": {
            "type": "object",
            "description": "Default `{\"atLeast\": 1}`.",
            "properties": {
              "atLeast": {
                "type": "integer",
                "minimum": 0
              },
              "atMost": {
                "type": "integer",
                "minimum": 0
              },
              "exactly": {
                "type": "integer",
                "minimum": 0
              }
            },
            "additionalProperties": false
          },
          "spacing": {
            "type": "object",
            "description": "The time between one matching line and the next.",
            "properties": {
              "atLeast": {
                "$ref": "#/components/schemas/DurationOrSeconds"
              },
              "atMost": {
                "$ref": "#/components/schemas/DurationOrSeconds"
              }
            },
            "additionalProperties": false
          },
          "previous": {
            "allOf": [
              {
                "$ref": "#/components/schemas/ReplyCode"
              }
            ],
            "description": "Only the lines sent right after a reply with this code, in the same session."
          },
          "after": {
            "allOf": [
              {
                "$ref": "#/components/schemas/ReplyCode"
              }
            ],
            "description": "Only the lines after the first matching line that was answered with this code."
          },
          "client": {
            "type": "string",
            "description": "Only the sessions from this IP address."
          },
          "since": {
            "description": "Only the sessions that ended this long ago or later (`10m`), or since an RFC 3339 time.",
            "anyOf": [
              {
                "$ref": "#/components/schemas/Duration"
              },
              {
                "type": "string",
                "format": "date-time"
              },
              {
                "type": "number",
                "minimum": 0,
                "maximum": 31536000
              }
            ]
          }
        },
        "additionalProperties": false,
        "example": {
          "command": "RCPT",
          "matching": "bob@example.com",
          "count": {
            "atLeast": 3
          },
          "spacing": {
            "atLeast": "5s"
          }
        }
      },
      "ReplyCode": {
        "type": "object",
        "required": [
          "code"
        ],
        "properties": {
          "code": {
            "type": "integer",
            "minimum": 200,
            "maximum": 599
          }
        },
        "additionalProperties": false
      },
      "Verdict": {
        "type": "object",
        "required": [
          "matched",
          "expected",
          "count",
          "sessions",
          "occurrences"
        ],
        "properties": {
          "matched": {
            "type": "boolean"
          },
          "expected": {
            "type": "string",
            "description": "The expectation, in words."
          },
          "count": {
            "type": "integer",
            "minimum": 0
          },
          "sessions": {
            "type": "array",
            "items": {
              "type": "integer",
              "minimum": 1
            }
          },
          "occurrences": {
            "type": "array",
            "maxItems": 100,
            "description": "The matching lines (the last 100).",
            "items": {
              "type": "object",
              "required": [
                "session",
                "at",
                "line",
                "reply",
                "decision"
              ],
              "properties": {
                "session": {
                  "type": "integer",
                  "minimum": 1
                },
                "at": {
                  "type": "string",
                  "format": "date-time"
                },
                "line": {
                  "type": "string"
                },
                "reply": {
                  "type": "string",
                  "nullable": true
                },
                "decision": {
                  "type": "string",
                  "nullable": true
                }
              }
            }
          },
          "near_misses": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "When `matched` is `false` only: why."
          }
        }
      },
      "RuleCondition": {
        "type": "object",
        "description": "One test (`operator`, `field`, `matchingValue` or `value`, `ignoreCase`), or `not`, `all` or `any` of conditions, alone in the mapping. Field names ignore case, `_` and `-`. See docs/rules.md.",
        "properties": {
          "operator": {
            "type": "string",
            "description": "`matchAll`, `contains`, `equals` (`eq`, `is`), `prefix` (`startsWith`), `suffix` (`endsWith`), `regex` (`matches`), `cidr` (`in`), `gt` (`greaterThan`), `lt` (`lessThan`).",
            "example": "contains"
          },
          "field": {
            "type": "string",
            "description": "`argument` (default), `client_ip`, `helo`, `sender`, `recipient`, `header:NAME`, `parameter:NAME`, `size`, `listener`."
          },
          "matchingValue": {
            "type": "string"
          },
          "value": {
            "type": "string",
            "description": "The same as `matchingValue`."
          },
          "ignoreCase": {
            "type": "boolean"
          },
          "not": {
            "type": "object",
            "description": "A condition."
          },
          "all": {
            "type": "array",
            "items": {
              "type": "object",
              "description": "A condition."
            }
          },
          "any": {
            "type": "array",
            "items": {
              "type": "object",
              "description": "A condition."
            }
          }
        },
        "additionalProperties": false
      },
      "RuleResponse": {
        "type": "object",
        "description": "Field names ignore case, `_` and `-`. See docs/rules.md.",
        "properties": {
          "code": {
            "type": "integer",
            "minimum": 200,
            "maximum": 599
          },
          "enhancedCode": {
            "type": "string",
            "pattern": "^[245]\\.[0-9]{1,3}\\.[0-9]{1,3}$",
            "example": "5.1.1"
          },
          "message": {
            "type": "string",
            "maxLength": 510
          },
          "lines": {
            "type": "array",
            "items": {
              "type": "string",
              "maxLength": 510
            }
          },
          "action": {
            "type": "string",
            "enum": [
              "reply",
              "accept",
              "reply_and_close",
              "disconnect",
              "reset",
              "hang"
            ]
          },
          "delay": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/Duration"
              },
              {
                "type": "object",
                "properties": {
                  "min": {
                    "$ref": "#/components/schemas/Duration"
                  },
                  "max": {
                    "$ref": "#/components/schemas/Duration"
                  }
                },
                "additionalProperties": false
              }
            ]
          },
          "dribble": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000000,
            "description": "Bytes a second."
          },
          "split": {
            "type": "integer",
            "minimum": 1
          },
          "deliver": {
            "type": "boolean"
          }
        },
        "additionalProperties": false
      },
      "RuleStep": {
        "description": "A response mapping, a bare code (`451`), or `pass`.",
        "anyOf": [
          {
            "$ref": "#/components/schemas/RuleResponse"
          },
          {
            "type": "integer",
            "minimum": 200,
            "maximum": 599
          },
          {
            "type": "string",
            "enum": [
              "pass"
            ]
          }
        ]
      },
      "Rule": {
        "type": "object",
        "description": "A rule in sinkhole's rule syntax, as in a rules file (docs/rules.md). Field names ignore case, `_` and `-` (`count_per`, `countPer`); an unknown field is refused. `command` (or `commands`) and `response` (or `responses`) are required.",
        "properties": {
          "id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._:-]{1,128}$",
            "description": "Default `api-N`."
          },
          "command": {
            "description": "`CONNECT`, `HELO`, `EHLO`, `LHLO`, `MAIL`, `RCPT`, `DATA`, `BDAT`, `CONTENT`, `.`, `RSET`, `NOOP`, `VRFY`, `EXPN`, `HELP`, `QUIT`, `STARTTLS`, `AUTH`, `XCLIENT`, `XFORWARD`, `UNKNOWN` (also `MAIL FROM`, `RCPT TO`, `END-OF-DATA`, `EOD`, `DOT`); a name, a comma-separated list, or a list.",
            "anyOf": [
              {
                "type": "string",
                "minLength": 1
              },
              {
                "type": "array",
                "minItems": 1,
                "items": {
                  "type": "string"
                }
              }
            ],
            "example": "RCPT"
          },
          "commands": {
            "description": "The same as `command`.",
            "anyOf": [
              {
                "type": "string",
                "minLength": 1
              },
              {
                "type": "array",
                "minItems": 1,
                "items": {
                  "type": "string"
                }
              }
            ]
          },
          "condition": {
            "$ref": "#/components/schemas/RuleCondition"
          },
          "response": {
            "$ref": "#/components/schemas/RuleStep"
          },
          "responses": {
            "type": "array",
            "minItems": 1,
            "items": {
              "$ref": "#/components/schemas/RuleStep"
            },
            "description": "The answers in turn, per counting key. Not with `response`."
          },
          "numberOfAnswer": {
            "type": "integer",
            "minimum": 1,
            "nullable": true
          },
          "count_per": {
            "type": "string",
            "enum": [
              "global",
              "client_ip",
              "sender",
              "recipient",
              "triplet"
            ]
          },
          "probability": {
            "type": "number",
            "minimum": 0,
            "maximum": 100
          },
          "seed": {
            "type": "integer",
            "minimum": 0
          },
          "ttl": {
            "$ref": "#/components/schemas/Duration"
          },
          "bytes": {
            "description": "`CONTENT` only: a size, `4096`, `4K`, `1M`.",
            "anyOf": [
              {
                "type": "integer",
                "minimum": 0
              },
              {
                "type": "string",
                "pattern": "^[0-9]+[KMGkmg]?$"
              }
            ]
          },
          "description": {
            "type": "string"
          }
        },
        "additionalProperties": false,
        "example": {
          "id": "flaky",
          "command": "RCPT",
          "responses": [
            451,
            451,
            "pass"
          ],
          "count_per": "recipient"
        }
      },
      "RulePatch": {
        "type": "object",
        "description": "The fields to change: each replaces the rule's own, `null` removes one, `id` is ignored. The result must be a valid rule; its counts start again.",
        "properties": {
          "id": {
            "anyOf": [
              {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                "description": "Default `api-N`."
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "command": {
            "anyOf": [
              {
                "description": "`CONNECT`, `HELO`, `EHLO`, `LHLO`, `MAIL`, `RCPT`, `DATA`, `BDAT`, `CONTENT`, `.`, `RSET`, `NOOP`, `VRFY`, `EXPN`, `HELP`, `QUIT`, `STARTTLS`, `AUTH`, `XCLIENT`, `XFORWARD`, `UNKNOWN` (also `MAIL FROM`, `RCPT TO`, `END-OF-DATA`, `EOD`, `DOT`); a name, a comma-separated list, or a list.",
                "anyOf": [
                  {
                    "type": "string",
                    "minLength": 1
                  },
                  {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                      "type": "string"
                    }
                  }
                ],
                "example": "RCPT"
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "commands": {
            "anyOf": [
              {
                "description": "The same as `command`.",
                "anyOf": [
                  {
                    "type": "string",
                    "minLength": 1
                  },
                  {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                      "type": "string"
                    }
                  }
                ]
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "condition": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/RuleCondition"
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "response": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/RuleStep"
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "responses": {
            "anyOf": [
              {
                "type": "array",
                "minItems": 1,
                "items": {
                  "$ref": "#/components/schemas/RuleStep"
                },
                "description": "The answers in turn, per counting key. Not with `response`."
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "numberOfAnswer": {
            "anyOf": [
              {
                "type": "integer",
                "minimum": 1,
                "nullable": true
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "count_per": {
            "anyOf": [
              {
                "type": "string",
                "enum": [
                  "global",
                  "client_ip",
                  "sender",
                  "recipient",
                  "triplet"
                ]
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "probability": {
            "anyOf": [
              {
                "type": "number",
                "minimum": 0,
                "maximum": 100
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "seed": {
            "anyOf": [
              {
                "type": "integer",
                "minimum": 0
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "ttl": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/Duration"
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "bytes": {
            "anyOf": [
              {
                "description": "`CONTENT` only: a size, `4096`, `4K`, `1M`.",
                "anyOf": [
                  {
                    "type": "integer",
                    "minimum": 0
                  },
                  {
                    "type": "string",
                    "pattern": "^[0-9]+[KMGkmg]?$"
                  }
                ]
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          },
          "description": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "$ref": "#/components/schemas/Null"
              }
            ]
          }
        },
        "additionalProperties": false,
        "example": {
          "response": {
            "code": 550,
            "message": "5.1.1 No"
          }
        }
      },
      "RuleState": {
        "type": "object",
        "required": [
          "id",
          "origin",
          "commands",
          "count_per",
          "number_of_answer",
          "answered",
          "keys"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "origin": {
            "type": "string",
            "description": "`api`, or where a configured rule comes from."
          },
          "commands": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "count_per": {
            "type": "string",
            "enum": [
              "global",
              "client_ip",
              "sender",
              "recipient",
              "triplet"
            ]
          },
          "number_of_answer": {
            "type": "integer",
            "minimum": 1,
            "nullable": true
          },
          "answered": {
            "type": "integer",
            "minimum": 0
          },
          "keys": {
            "type": "object",
            "description": "Each counting key (`global` for the global one): its answers and what it gets next.",
            "additionalProperties": {
              "type": "object",
              "required": [
                "answered",
                "next"
              ],
              "properties": {
                "answered": {
                  "type": "integer",
                  "minimum": 0
                },
                "next": {
                  "type": "string"
                }
              }
            }
          },
          "next": {
            "type": "string",
            "description": "While no key has been counted: what the rule answers next (`exhausted` when it has no answers left)."
          },
          "rule": {
            "type": "object",
            "description": "API rules only: the rule as posted (with its id)."
          }
        }
      },
      "RuleList": {
        "type": "object",
        "required": [
          "rules"
        ],
        "properties": {
          "rules": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/RuleState"
            }
          }
        }
      },
      "Clock": {
        "type": "object",
        "required": [
          "advanced_seconds"
        ],
        "properties": {
          "advanced_seconds": {
            "type": "number",
            "minimum": 0,
            "description": "How far the test clock has been moved, in all."
          }
        }
      },
      "ClockAdvanceRequest": {
        "type": "object",
        "required": [
          "advance"
        ],
        "properties": {
          "advance": {
            "description": "A duration above 0, up to a year (or a number of seconds).",
            "anyOf": [
              {
                "$ref": "#/components/schemas/Duration"
              },
              {
                "type": "number",
                "exclusiveMinimum": true,
                "minimum": 0,
                "maximum": 31536000
              }
            ],
            "example": "310s"
          }
        },
        "additionalProperties": false
      },
      "Greylist": {
        "type": "object",
        "required": [
          "entries"
        ],
        "properties": {
          "entries": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "key",
                "state",
                "attempts",
                "first_seconds_ago",
                "last_seconds_ago",
                "last_gap_seconds"
              ],
              "properties": {
                "key": {
                  "type": "string",
                  "description": "The client IP, its network, or `network/sender/recipient`, as the greylist keys."
                },
                "state": {
                  "type": "string",
                  "enum": [
                    "passed",
                    "deferred"
                  ]
                },
                "attempts": {
                  "type": "integer",
                  "minimum": 1
                },
                "first_seconds_ago": {
                  "type": "number"
                },
                "last_seconds_ago": {
                  "type": "number"
                },
                "last_gap_seconds": {
                  "type": "number",
                  "nullable": true
                }
              }
            }
          }
        }
      }
    }
  }
}

"""#
}

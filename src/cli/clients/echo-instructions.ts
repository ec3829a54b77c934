/**
 * What `--mode echo` asks of the server's responder: say back what it heard. The embedded echo
 * responder does that anyway; an LLM responder needs to be told.
 */
export const ECHO_INSTRUCTIONS = "Repeat the user's words exactly as given, word for word. Output only those words.";

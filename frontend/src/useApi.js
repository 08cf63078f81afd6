// The API client for the page's components, and a hook that loads one answer.
import { createContext, useCallback, useContext, useEffect, useState } from "react";

export const ApiContext = createContext(null);
export const useApi = () => useContext(ApiContext);

/** {data, error, loading, reload} of GET `path` (null: nothing to load yet). */
export function useLoad(path) {
  const api = useApi();
  const [state, setState] = useState({ data: null, error: null, loading: Boolean(path) });
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    setState((previous) => ({ ...previous, loading: true, error: null }));
    api.get(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }));
    return () => { live = false; };
  }, [api, path, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { ...state, reload };
}
